"""Hook specifications: the whole plugin API of DSN.

A plugin is a module (or object) with functions decorated by ``@hookimpl`` whose names
and arguments match the specs below, advertised through a ``dsn`` entry point::

    # pyproject.toml of your distribution
    [project.entry - points.dsn]
    acme = "dsn_acme.plugin"

    # dsn_acme/plugin.py
    from dsn_core.api import hookimpl


    @hookimpl
    def register_messengers(register):
        register(AcmeMessenger)

A hook implementation may take any subset of a spec's arguments. A misspelled hook name
or an unknown argument is reported by ``manage.py check`` (a warning, dsn.W010) and
``manage.py dsn_plugins`` naming your distribution; the site and the other plugins keep working.
Implementations are called with pluggy's semantics (order, ``tryfirst``/``trylast``,
``firstresult``, wrappers), each isolated from the others: see :mod:`dsn_core.plugins`.
Everything else a plugin uses comes from :mod:`dsn_core.api`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from django.urls import URLPattern, URLResolver

    from .models import Delivery

hookspec = pluggy.HookspecMarker("dsn")


@hookspec
def register_messengers(register: Callable[[type], None]) -> None:
    """Register messenger classes (subclasses of :class:`dsn_core.messengers.Messenger`).

    Call ``register(MessengerClass)`` once per messenger. Its ``key`` must be unique
    across all installed plugins: a second plugin claiming the same key is reported by
    ``check`` naming both distributions, and the second registration is ignored.
    """


@hookspec
def register_template_engines(register: Callable[[Any], None]) -> None:
    """Register template engines (subclasses of :class:`dsn_core.engines.TemplateEngine`).

    Call ``register(EngineClass)`` once per engine, as for messengers; the core creates the one
    instance that every render in the process shares (so ``compile``/``render`` must be
    thread-safe). An instance is accepted too, for an engine that needs constructor arguments.
    Its ``key`` is stored in ``MessageTemplate.engine`` and must be unique across all
    installed plugins: a second plugin claiming the same key is reported and ignored. The core
    registers its ``django`` engine through this same hook.
    """


@hookspec
def register_signals(register: Callable[..., None]) -> None:
    """Register signals that triggers can use as their verb.

    Call ``register(name, signal, *, action_object_arg=None, actor_arg=None,
    model_signal=False, sender_is_model=False, accepts=None, description="")``:

    ``name``
        The verb stored on triggers (``"order_paid"``). Unique across plugins.
    ``signal``
        A :class:`django.dispatch.Signal`.
    ``action_object_arg`` / ``actor_arg``
        Which keyword argument of ``signal.send`` holds the action object / the actor.
        Defaults: ``instance`` or ``action_object``, and ``actor_object`` or ``actor``.
    ``sender_is_model``
        True when ``sender`` is always the action object's model (like ``post_save``):
        DSN then connects its receiver only for models that have triggers.
    ``accepts``
        ``accepts(kwargs) -> bool``; signal calls it rejects never match.

    Apps without a plugin can call :func:`dsn_core.verbs.register_signal` from ``ready()``.
    """


@hookspec
def register_receiver_resolvers(register: Callable[..., None]) -> None:
    """Register named dynamic receivers that subscriptions can pick.

    Call ``register(name, resolver, description="")``. ``resolver(event)`` receives a
    :class:`dsn_core.receivers.Event` (``verb``, ``action_object``, ``actor``, ``target``,
    ``kwargs``) and returns an iterable of users. A subscription lists it as ``@name``.
    """


@hookspec
def urlpatterns() -> list[URLPattern | URLResolver]:
    """Return URL patterns (webhooks, linking pages) to mount under ``dsn_core.urls``.

    They are included under the prefix where the site includes ``dsn_core.urls``;
    name them with a prefix of your plugin (``"dsn_telegram_webhook"``).
    """
    return []


@hookspec
def delivery_finished(delivery: Delivery, status: str, error: str) -> None:
    """Called after each delivery attempt is recorded.

    ``status`` is the delivery's new state (``sent``, ``failed``, ``dead``, ``skipped``),
    ``error`` the error text or ``""``. Exceptions raised here are logged and ignored.
    """


@hookspec
def delivery_dead(delivery: Delivery) -> None:
    """Called once when a delivery gives up for good (permanent error, retries exhausted).

    The :data:`dsn_core.signals.delivery_dead` Django signal is sent at the same time.
    Use it to alert someone. Exceptions raised here are logged and ignored.
    """


@hookspec
def delivery_receipt(delivery: Delivery, receipt: str, detail: str) -> None:
    """Called when a provider reports what happened to a sent message.

    ``receipt`` is ``delivered``, ``undelivered``, ``bounced`` or ``complained``; ``detail``
    a short reason. Plugins report receipts with :func:`dsn_core.receipts.record_receipt`.
    The :data:`dsn_core.signals.delivery_receipt` Django signal is sent at the same time.
    Exceptions raised here are logged and ignored.
    """


@hookspec
def sweep(now: datetime) -> dict[str, int] | None:
    """Called on every sweep (``manage.py dsn_sweep`` and the periodic sweep), after the core's steps.

    Prune or repair your plugin's own tables here (dsn-inbox deletes old read items). Keep one
    call bounded (a few batches): the next sweep carries on. Return counts to add to the sweep's
    report (``{"inbox_pruned": 12}``) or ``None``. Exceptions raised here are logged and ignored.
    """


@hookspec
def ready() -> None:
    """Called once per process when Django is ready (from dsn_core's ``AppConfig.ready``).

    Connect receivers to Django signals of other libraries here (dsn-email listens to
    django-anymail's tracking signal). Do not query the database: ``ready`` also runs
    before ``migrate``. Exceptions raised here are logged and ignored.
    """
