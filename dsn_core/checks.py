"""Django system checks: broken plugins, messenger settings, triggers the index skipped."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.checks import CheckMessage, Error, Warning, register

if TYPE_CHECKING:
    from .messengers import Messenger


@register("dsn")
def check_plugins(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """One message per plugin problem, naming the distribution, the reason and the fix.

    A warning (dsn.W010): the site, its commands, its workers and the other plugins keep working
    without the broken plugin. With ``DSN["STRICT_PLUGINS"]`` (CI) it is an error (dsn.E001).
    """
    from .plugins import registry, strict

    level, check_id = (Error, "dsn.E001") if strict() else (Warning, "dsn.W010")
    return [
        level(
            f"DSN plugin {p.plugin!r} from distribution {p.distribution!r} is broken and was left out "
            f"(the other plugins keep working): {p.reason}",
            hint=f"{p.fix} DSN['STRICT_PLUGINS'] = True makes this an error (for CI).",
            id=check_id,
        )
        for p in registry().problems
    ]


@register("dsn")
def check_messengers(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Each installed messenger's own configuration checks."""
    from .plugins import registry

    messages: list[CheckMessage] = []
    for cls in registry().messengers.values():
        messages.extend(messenger_checks(cls))
    return messages


def messenger_checks(cls: type[Messenger]) -> list[CheckMessage]:
    """One messenger's checks as the site sees them (``manage.py check`` and ``dsn_plugins``).

    A messenger whose ``DSN`` section is absent is installed but not configured: its problems
    become one warning (dsn.W002), so installing a channel never stops a site from starting.
    A ``check()`` that raises is an error (dsn.E002).
    """
    from .conf import dsn_settings

    try:
        found = list(cls.check())
        section = cls.settings_section()
    except Exception as exc:
        return [Error(f"DSN messenger {cls.key!r}: its check() raised {type(exc).__name__}: {exc}", id="dsn.E002")]
    if section and section not in dsn_settings() and found:
        return [_not_configured(cls, section, found)]
    return found


def _not_configured(cls: type[Messenger], section: str, found: list[CheckMessage]) -> CheckMessage:
    first = found[0].msg
    return Warning(
        f"DSN messenger {cls.key!r} is installed but settings.DSN[{section!r}] is not configured, so it "
        f"cannot send yet ({len(found)} setting problem(s); first: {first})",
        hint="Configure it, or block the plugin with DSN['BLOCK_PLUGINS'] / the DSN_BLOCK_PLUGINS variable.",
        id="dsn.W002",
    )


@register("dsn")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """DSN settings that are wrong in a way Django would not notice (a typo in a name)."""
    from django.conf import settings

    messages: list[CheckMessage] = []
    value = getattr(settings, "DSN", {})
    if not isinstance(value, dict):
        return [Error("settings.DSN must be a dict.", id="dsn.E003")]
    from .conf import DEFAULTS

    plugin_sections = {k for k in value if k.isupper() and isinstance(value[k], dict)}
    unknown = sorted(set(value) - set(DEFAULTS) - plugin_sections)
    if unknown:
        messages.append(Warning(f"Unknown DSN setting(s): {', '.join(unknown)}.", id="dsn.W001"))
    return messages


@register("dsn", deploy=True)
def check_base_url(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """With ``check --deploy``: unsubscribe links need an absolute https ``DSN["BASE_URL"]``."""
    from .conf import get
    from .unsubscribe import url_pattern

    if not url_pattern():
        return []  # dsn_core.urls is not mounted: messages carry no unsubscribe link
    base = str(get("BASE_URL") or "")
    if not base:
        return [
            Warning(
                "DSN['BASE_URL'] is not set, so unsubscribe links in messages are relative paths.",
                hint="Set it to the site's public address, e.g. 'https://example.com': mail providers need an "
                "absolute https URL in List-Unsubscribe.",
                id="dsn.W003",
            )
        ]
    if not base.startswith("https://"):
        return [
            Warning(
                f"DSN['BASE_URL'] ({base}) is not https: mail providers ignore one-click unsubscribe "
                "links that are not https.",
                id="dsn.W004",
            )
        ]
    return []


@register("dsn")
def check_plugin_apps(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """A plugin whose URLs are mounted needs its Django app installed when it ships one.

    Its pages render the app's templates and read its tables: without the app in
    ``INSTALLED_APPS`` they answer 500 (``TemplateDoesNotExist``). Warns (dsn.W011) naming the
    app to add, for any plugin whose ``urlpatterns`` hook returns patterns while the site
    mounts ``dsn_core.urls`` and whose package has an app (``apps.py``, ``models.py``,
    ``templates/`` or ``migrations/``).
    """
    from django.apps import apps

    from .plugins import hook, registry
    from .unsubscribe import url_pattern

    try:
        if not url_pattern():
            return []  # dsn_core.urls is not mounted: no plugin page is reachable
        impls = hook().urlpatterns.get_hookimpls()
    except Exception:
        return []  # a broken URLconf or plugin is reported by its own check
    plugins = registry().plugins
    messages: list[CheckMessage] = []
    for impl in impls:
        package = (getattr(impl.function, "__module__", "") or "").partition(".")[0]
        if not package or package == "dsn_core" or apps.is_installed(package) or not _ships_app(package):
            continue
        try:
            if not impl.function():
                continue
        except Exception:
            continue  # dsn_core.urls logs it
        info = plugins.get(impl.plugin_name)
        distribution = info.distribution if info else package
        messages.append(
            Warning(
                f"DSN plugin {impl.plugin_name!r} (distribution {distribution!r}) has its pages mounted under "
                f"dsn_core.urls, but its app {package!r} is not in INSTALLED_APPS: those pages fail "
                "(TemplateDoesNotExist, missing tables).",
                hint=f"Add {package!r} to INSTALLED_APPS.",
                id="dsn.W011",
            )
        )
    return messages


def _ships_app(package: str) -> bool:
    """Whether ``package`` is a Django app (an AppConfig, models, templates or migrations)."""
    import importlib.util
    from pathlib import Path

    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return False
    for location in (spec.submodule_search_locations or []) if spec else []:
        root = Path(location)
        if any((root / name).exists() for name in ("apps.py", "models.py", "templates", "migrations")):
            return True
    return False
