"""Finding, loading and isolating plugins.

Plugins are found through the ``dsn`` entry-point group. Each entry point is loaded and
registered on its own, so one broken plugin never stops the others or the site: its
failure is kept as a :class:`PluginProblem` and reported by the system checks and by
``manage.py dsn_plugins``.

Allow-/block-lists: ``DSN["PLUGINS"]`` (or env ``DSN_PLUGINS``, comma-separated) loads
only the named entry points; ``DSN["BLOCK_PLUGINS"]`` (or env ``DSN_BLOCK_PLUGINS``)
skips the named ones. The built-in plugin (``dsn_core``) is always loaded.

A broken plugin (it fails to import, misspells a hook, asks for an argument a hook does not
have, claims a key another plugin holds) is a system-check *warning*, so every command and
worker still starts and the other plugins keep sending. ``DSN["STRICT_PLUGINS"] = True`` (or env
``DSN_STRICT_PLUGINS=1``) makes it an error, for CI.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from . import hookspecs

logger = logging.getLogger("dsn_core.plugins")

ENTRY_POINT_GROUP = "dsn"
BUILTIN_NAME = "dsn_core"


@dataclass(frozen=True)
class PluginProblem:
    """Why a plugin (or one of its registrations) was not loaded."""

    plugin: str
    distribution: str
    reason: str
    version: str = "?"

    @property
    def fix(self) -> str:
        """What a site can do about it (the hint shown by ``check`` and ``dsn_plugins``)."""
        return (
            f"Fix or upgrade {self.distribution}, uninstall it, or block it with "
            f"DSN['BLOCK_PLUGINS'] = [{self.plugin!r}] (or the environment variable DSN_BLOCK_PLUGINS={self.plugin})."
        )


@dataclass
class PluginInfo:
    """What ``dsn_plugins`` shows for one plugin."""

    name: str
    distribution: str
    version: str
    hooks: list[str] = field(default_factory=list)
    registered: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Registry:
    """Everything the loaded plugins registered, keyed by kind then key."""

    messengers: dict[str, type] = field(default_factory=dict)
    engines: dict[str, Any] = field(default_factory=dict)
    signals: dict[str, Any] = field(default_factory=dict)
    resolvers: dict[str, Any] = field(default_factory=dict)
    owners: dict[tuple[str, str], str] = field(default_factory=dict)
    problems: list[PluginProblem] = field(default_factory=list)
    plugins: dict[str, PluginInfo] = field(default_factory=dict)
    manager: pluggy.PluginManager | None = None


_lock = threading.RLock()
_registry: Registry | None = None
_extra_plugins: list[tuple[str, object]] = []


def _names_from(setting: str, env: str) -> set[str] | None:
    from .conf import dsn_settings

    raw = os.environ.get(env)
    if raw is not None:
        return {name.strip() for name in raw.split(",") if name.strip()}
    value = dsn_settings().get(setting)
    if value is None:
        return None
    return set(value)


def strict() -> bool:
    """Whether broken plugins are errors (``DSN["STRICT_PLUGINS"]`` / env ``DSN_STRICT_PLUGINS``)."""
    from .conf import dsn_settings

    raw = os.environ.get("DSN_STRICT_PLUGINS")
    if raw is not None:
        return raw.strip().lower() not in ("", "0", "false", "no", "off")
    return bool(dsn_settings().get("STRICT_PLUGINS", False))


def _distribution(ep: EntryPoint) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return ep.value.split(".")[0], "?"
    return dist.metadata["Name"], dist.version


def iter_entry_points() -> Iterator[EntryPoint]:
    """The ``dsn`` entry points of the installed distributions, in a stable order."""
    seen: set[str] = set()
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if ep.name in seen:
            continue
        seen.add(ep.name)
        yield ep


def _new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("dsn")
    pm.add_hookspecs(hookspecs)
    return pm


def _register_plugin(reg: Registry, name: str, obj: object, dist: str, version: str) -> None:
    pm = reg.manager
    assert pm is not None
    try:
        pm.register(obj, name=name)
    except Exception as exc:  # pluggy.PluginValidationError: unknown argument, etc.
        reg.problems.append(PluginProblem(name, dist, f"invalid hook implementation: {exc}", version))
        return
    unknown = [
        hook.name
        for hook in pm.get_hookcallers(obj) or []
        if not hook.has_spec()
    ]
    if unknown:
        pm.unregister(obj)
        reg.problems.append(
            PluginProblem(name, dist, f"unknown hook(s) {', '.join(sorted(unknown))} (misspelled?)", version)
        )
        return
    hooks = sorted(hook.name for hook in pm.get_hookcallers(obj) or [])
    reg.plugins[name] = PluginInfo(name, dist, version, hooks)


def _load(reg: Registry) -> None:
    from . import builtins

    _register_plugin(reg, BUILTIN_NAME, builtins, "dsn-core", _core_version())
    allow = _names_from("PLUGINS", "DSN_PLUGINS")
    block = _names_from("BLOCK_PLUGINS", "DSN_BLOCK_PLUGINS") or set()
    for ep in iter_entry_points():
        dist, version = _distribution(ep)
        if ep.name == BUILTIN_NAME or ep.name in block or (allow is not None and ep.name not in allow):
            logger.debug("DSN plugin %s (%s) not loaded: blocked or not allowed", ep.name, dist)
            continue
        try:
            obj = ep.load()
        except Exception as exc:
            reg.problems.append(PluginProblem(ep.name, dist, f"failed to import: {type(exc).__name__}: {exc}", version))
            # One line per process start; the traceback (for the plugin's author) at DEBUG.
            logger.warning("DSN plugin %s (%s) failed to import and is left out: %s: %s",
                           ep.name, dist, type(exc).__name__, exc)
            logger.debug("DSN plugin %s import traceback", ep.name, exc_info=True)
            continue
        _register_plugin(reg, ep.name, obj, dist, version)
    for name, obj in _extra_plugins:
        _register_plugin(reg, name, obj, name, "test")
    _collect(reg)


def _core_version() -> str:
    from . import __version__

    return __version__


def _collect(reg: Registry) -> None:
    """Call every register_* hook plugin by plugin, so one failure stays local."""
    pm = reg.manager
    assert pm is not None
    kinds: dict[str, tuple[str, Callable[..., tuple[str, Any]]]] = {
        "register_messengers": ("messengers", _messenger_entry),
        "register_template_engines": ("engines", _engine_entry),
        "register_signals": ("signals", _signal_entry),
        "register_receiver_resolvers": ("resolvers", _resolver_entry),
    }
    for hook_name, (kind, make_entry) in kinds.items():
        hook = getattr(pm.hook, hook_name)
        # get_hookimpls() is in registration order: the built-in plugin first, so it keeps its keys.
        for impl in hook.get_hookimpls():
            plugin = impl.plugin_name
            info = reg.plugins.get(plugin)
            dist = info.distribution if info else plugin
            version = info.version if info else "?"

            def register(
                *args: Any, _plugin: str = plugin, _dist: str = dist, _version: str = version, _kind: str = kind,
                _make: Callable[..., tuple[str, Any]] = make_entry, **kwargs: Any
            ) -> None:
                try:
                    key, value = _make(*args, **kwargs)
                except (TypeError, ValueError) as exc:
                    reg.problems.append(PluginProblem(_plugin, _dist, f"bad {_kind} registration: {exc}", _version))
                    return
                table: dict[str, Any] = getattr(reg, _kind)
                owner = reg.owners.get((_kind, key))
                if owner is not None:
                    reg.problems.append(
                        PluginProblem(
                            _plugin,
                            _dist,
                            f"{_kind[:-1]} key {key!r} is already registered by {owner}; ignored",
                            _version,
                        )
                    )
                    return
                table[key] = value
                reg.owners[(_kind, key)] = _dist
                if _plugin in reg.plugins:
                    reg.plugins[_plugin].registered.setdefault(_kind, []).append(key)

            try:
                impl.function(**{arg: register for arg in impl.argnames})
            except Exception as exc:
                reason = f"{hook_name} raised {type(exc).__name__}: {exc}"
                reg.problems.append(PluginProblem(plugin, dist, reason, version))
                logger.exception("DSN plugin %s failed in %s", plugin, hook_name)


def _messenger_entry(cls: type) -> tuple[str, type]:
    from .messengers import Messenger

    if not (isinstance(cls, type) and issubclass(cls, Messenger)):
        raise TypeError(f"{cls!r} is not a Messenger subclass")
    if not cls.key or not cls.label:
        raise ValueError(f"{cls.__name__} needs a non-empty key and label")
    return cls.key, cls


def _engine_entry(engine: Any) -> tuple[str, Any]:
    from .engines import TemplateEngine

    if isinstance(engine, type):
        engine = engine()
    if not isinstance(engine, TemplateEngine) or not engine.key:
        raise TypeError(f"{engine!r} is not a TemplateEngine with a key")
    return engine.key, engine


def _signal_entry(name: str, signal: Any, **kwargs: Any) -> tuple[str, Any]:
    from .verbs import Verb

    return name, Verb(name=name, signal=signal, **kwargs)


def _resolver_entry(name: str, resolver: Callable[..., Any], description: str = "") -> tuple[str, Any]:
    from .receivers import Resolver

    if not callable(resolver):
        raise TypeError(f"resolver {name!r} is not callable")
    return name, Resolver(name=name, function=resolver, description=description)


def registry() -> Registry:
    """The loaded plugins and what they registered (loaded once, on first use)."""
    global _registry
    reg = _registry
    if reg is None:
        with _lock:
            if _registry is None:
                new = Registry(manager=_new_manager())
                _load(new)
                _registry = new
            reg = _registry
    return reg


def reset() -> None:
    """Forget the loaded plugins; the next :func:`registry` call loads them again."""
    global _registry
    with _lock:
        _registry = None
    from . import verbs

    verbs.registry_changed()


def hook() -> Any:
    """The pluggy hook relay (``hook().delivery_finished(...)``)."""
    manager = registry().manager
    assert manager is not None
    return manager.hook


def add_plugin(name: str, plugin: object) -> None:
    """Register a plugin object directly (tests, or apps without an entry point)."""
    with _lock:
        _extra_plugins.append((name, plugin))
    reset()


def remove_plugin(name: str) -> None:
    """Undo :func:`add_plugin`."""
    with _lock:
        _extra_plugins[:] = [(n, p) for n, p in _extra_plugins if n != name]
    reset()


def get_messenger_class(key: str) -> type | None:
    """The messenger class registered under ``key``, or ``None`` if not installed."""
    return registry().messengers.get(key)


def get_engine(key: str) -> Any | None:
    """The template engine registered under ``key``, or ``None`` if not installed."""
    return registry().engines.get(key)


def messenger_choices() -> list[tuple[str, str]]:
    """``(key, label)`` pairs of installed messengers, for admin dropdowns."""
    return sorted(((k, c.label) for k, c in registry().messengers.items()), key=lambda kv: kv[1].lower())


def engine_choices() -> list[tuple[str, str]]:
    """``(key, label)`` pairs of installed template engines."""
    return sorted(((k, e.label) for k, e in registry().engines.items()), key=lambda kv: kv[1].lower())


def call_observers(hook_name: str, **kwargs: Any) -> None:
    """Call an observer hook; a plugin raising is logged, never propagated."""
    caller = getattr(hook(), hook_name)
    for impl in caller.get_hookimpls():
        try:
            impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
        except Exception:
            logger.exception("DSN plugin %s failed in %s", impl.plugin_name, hook_name)


def broken() -> dict[str, list[PluginProblem]]:
    """``{plugin name: its problems}`` for every plugin that did not load cleanly (for the admin)."""
    found: dict[str, list[PluginProblem]] = {}
    for problem in registry().problems:
        found.setdefault(problem.plugin, []).append(problem)
    return found


def report(reg: Registry | None = None) -> list[dict[str, Any]]:
    """One dict per plugin (loaded or broken), in name order: what ``dsn_plugins`` prints and the
    admin can show.

    Keys: ``name``, ``distribution``, ``version``, ``hooks``, ``registered`` (kind -> keys),
    ``problems`` (reasons), ``fix`` (what to do about them, or ""), ``checks`` (the messengers'
    configuration checks: ``messenger``, ``level``, ``id``, ``message``, ``hint``) and ``status``:
    ``broken`` (it failed to load or to register something), ``errors`` (a messenger's
    configuration check fails), ``warnings`` or ``ok``.
    """
    from django.core.checks import ERROR, WARNING

    from .checks import messenger_checks

    reg = reg or registry()
    plugins: dict[str, dict[str, Any]] = {}
    for name, info in reg.plugins.items():
        plugins[name] = {
            "name": name, "distribution": info.distribution, "version": info.version, "hooks": list(info.hooks),
            "registered": {k: list(v) for k, v in info.registered.items()}, "problems": [], "fix": "", "checks": [],
        }
    for problem in reg.problems:
        entry = plugins.setdefault(problem.plugin, {
            "name": problem.plugin, "distribution": problem.distribution, "version": problem.version, "hooks": [],
            "registered": {}, "problems": [], "fix": "", "checks": [],
        })
        entry["problems"].append(problem.reason)
        entry["fix"] = problem.fix
    for entry in plugins.values():
        for key in entry["registered"].get("messengers", []):
            cls = reg.messengers.get(key)
            if cls is None:
                continue
            for message in messenger_checks(cls):
                level = "error" if message.level >= ERROR else "warning" if message.level >= WARNING else "info"
                entry["checks"].append({
                    "messenger": key, "level": level, "id": message.id or "", "message": message.msg,
                    "hint": message.hint or "",
                })
        levels = {c["level"] for c in entry["checks"]}
        entry["status"] = (
            "broken" if entry["problems"] else "errors" if "error" in levels else "warnings" if "warning" in levels
            else "ok"
        )
    return [plugins[name] for name in sorted(plugins)]
