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

Hooks are called in pluggy's order (``tryfirst`` first, ``trylast`` last, otherwise the
plugin registered last first), ``firstresult`` specs stop at the first non-``None`` result, and
wrappers (``wrapper=True``, and old-style ``hookwrapper=True``) wrap the other implementations:
the only difference from pluggy is isolation. An implementation that raises is logged and
skipped (its wrapper sees the others' results); a wrapper that raises leaves the result as it
was. The ``register_*`` hooks are called one implementation at a time: the built-in plugin
first, then ``tryfirst``, plain and ``trylast`` implementations, each group in entry-point name
order, so the first to register a key keeps it whatever order packages were installed in;
wrappers make no sense there and are refused when the plugin loads.

Set the environment variable ``DSN_TRACE_HOOKS=1`` to log every hook call, each
implementation's duration and the call's total, on the ``dsn_core.hooks`` logger.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any, cast

import pluggy

from . import hookspecs

if TYPE_CHECKING:
    from .engines import TemplateEngine
    from .messengers import Messenger

logger = logging.getLogger("dsn_core.plugins")
trace_logger = logging.getLogger("dsn_core.hooks")

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

    messengers: dict[str, type[Messenger]] = field(default_factory=dict)
    engines: dict[str, TemplateEngine] = field(default_factory=dict)
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


#: The hooks whose implementations register things, called plugin by plugin by :func:`_collect`.
REGISTER_HOOKS = ("register_messengers", "register_template_engines", "register_signals", "register_receiver_resolvers")


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
    unknown = [hook.name for hook in pm.get_hookcallers(obj) or [] if not hook.has_spec()]
    if unknown:
        pm.unregister(obj)
        reg.problems.append(
            PluginProblem(name, dist, f"unknown hook(s) {', '.join(sorted(unknown))} (misspelled?)", version)
        )
        return
    wrapped = sorted(
        hook.name
        for hook in pm.get_hookcallers(obj) or []
        if hook.name in REGISTER_HOOKS
        for impl in hook.get_hookimpls()
        if impl.plugin is obj and (impl.wrapper or impl.hookwrapper)
    )
    if wrapped:
        pm.unregister(obj)
        reg.problems.append(
            PluginProblem(
                name,
                dist,
                f"{', '.join(wrapped)} cannot be a wrapper (wrapper=True / hookwrapper=True): registration "
                "hooks are called one plugin at a time; remove the wrapper option",
                version,
            )
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
            logger.warning(
                "DSN plugin %s (%s) failed to import and is left out: %s: %s", ep.name, dist, type(exc).__name__, exc
            )
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
        for impl in _register_order(reg, hook.get_hookimpls()):
            plugin = impl.plugin_name
            info = reg.plugins.get(plugin)
            dist = info.distribution if info else plugin
            version = info.version if info else "?"

            def register(
                *args: Any,
                _plugin: str = plugin,
                _dist: str = dist,
                _version: str = version,
                _kind: str = kind,
                _make: Callable[..., tuple[str, Any]] = make_entry,
                **kwargs: Any,
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
                with _traced(hook_name, plugin):
                    impl.function(**{arg: register for arg in impl.argnames})
            except Exception as exc:
                reason = f"{hook_name} raised {type(exc).__name__}: {exc}"
                reg.problems.append(PluginProblem(plugin, dist, reason, version))
                logger.exception("DSN plugin %s failed in %s", plugin, hook_name)


def _register_order(reg: Registry, impls: list[pluggy.HookImpl]) -> list[pluggy.HookImpl]:
    """The built-in plugin first, then ``tryfirst``, plain and ``trylast`` implementations, each
    group in registration order (entry-point name order): the first to register a key keeps it."""
    position = {name: i for i, name in enumerate(reg.plugins)}

    def key(impl: pluggy.HookImpl) -> tuple[bool, int, int]:
        group = 0 if impl.tryfirst else 2 if impl.trylast else 1
        return impl.plugin_name != BUILTIN_NAME, group, position.get(impl.plugin_name, len(position))

    return sorted((i for i in impls if not (i.wrapper or i.hookwrapper)), key=key)


def _messenger_entry(messenger: Any) -> tuple[str, type[Messenger]]:
    from .messengers import Messenger

    if not (isinstance(messenger, type) and issubclass(messenger, Messenger)):
        raise TypeError(f"{messenger!r} is not a Messenger subclass")
    if not messenger.key or not messenger.label:
        raise ValueError(f"{messenger.__name__} needs a non-empty key and label")
    return messenger.key, messenger


def _engine_entry(engine: Any) -> tuple[str, TemplateEngine]:
    """Engines register like messengers, as classes (the core makes the one instance every
    render shares); an instance is accepted too, for engines that take constructor arguments."""
    from .engines import TemplateEngine

    if isinstance(engine, type):
        if not issubclass(engine, TemplateEngine):
            raise TypeError(f"{engine!r} is not a TemplateEngine subclass")
        engine = engine()
    if not isinstance(engine, TemplateEngine):
        raise TypeError(f"{engine!r} is not a TemplateEngine subclass or instance")
    if not engine.key or not engine.label:
        raise ValueError(f"{type(engine).__name__} needs a non-empty key and label")
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


def get_messenger_class(key: str) -> type[Messenger] | None:
    """The messenger class registered under ``key``, or ``None`` if not installed."""
    return registry().messengers.get(key)


def get_engine(key: str) -> TemplateEngine | None:
    """The template engine registered under ``key``, or ``None`` if not installed."""
    return registry().engines.get(key)


def messenger_choices() -> list[tuple[str, str]]:
    """``(key, label)`` pairs of installed messengers, for admin dropdowns."""
    return sorted(((k, c.label) for k, c in registry().messengers.items()), key=lambda kv: kv[1].lower())


def engine_choices() -> list[tuple[str, str]]:
    """``(key, label)`` pairs of installed template engines."""
    return sorted(((k, e.label) for k, e in registry().engines.items()), key=lambda kv: kv[1].lower())


def _call_order(impls: list[pluggy.HookImpl]) -> list[pluggy.HookImpl]:
    """Plain (non-wrapper) implementations in the order pluggy calls them.

    ``get_hookimpls()`` lists them trylast first, tryfirst last, and pluggy calls the list
    backwards: tryfirst first, then the plugin registered last first, trylast at the end.
    """
    return [impl for impl in reversed(impls) if not (impl.wrapper or impl.hookwrapper)]


def tracing() -> bool:
    """Whether hook calls are traced (environment variable ``DSN_TRACE_HOOKS``)."""
    return os.environ.get("DSN_TRACE_HOOKS", "").strip().lower() not in ("", "0", "false", "no", "off")


def _trace_handler() -> None:
    """Tracing must show up even where the site configured no logging: add a stderr handler once."""
    if not trace_logger.hasHandlers():
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        trace_logger.addHandler(handler)
    if trace_logger.getEffectiveLevel() > logging.INFO:
        trace_logger.setLevel(logging.INFO)


class _traced:
    """Context manager timing one hook implementation when tracing is on."""

    __slots__ = ("hook_name", "plugin", "start")

    def __init__(self, hook_name: str, plugin: str) -> None:
        self.hook_name, self.plugin, self.start = hook_name, plugin, 0.0

    def __enter__(self) -> None:
        if tracing():
            self.start = time.perf_counter()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self.start:
            _trace_handler()
            outcome = f" raised {exc_type.__name__}" if exc_type else ""
            trace_logger.info(
                "%s: %s took %.3f ms%s", self.hook_name, self.plugin, (time.perf_counter() - self.start) * 1000, outcome
            )


def _arguments(impl: pluggy.HookImpl, kwargs: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """What pluggy passes an implementation: its arguments without defaults positionally, and
    those with defaults by keyword when the caller gave them."""
    return [kwargs[arg] for arg in impl.argnames], {k: kwargs[k] for k in impl.kwargnames if k in kwargs}


def _start_wrapper(impl: pluggy.HookImpl, hook_name: str, kwargs: dict[str, Any]) -> Generator[Any, Any, Any] | None:
    """Run a wrapper up to its ``yield``; ``None`` (logged) if it raised or did not yield."""
    args, keywords = _arguments(impl, kwargs)
    try:
        with _traced(hook_name, f"{impl.plugin_name} (wrapper, before)"):
            gen = cast(Generator[Any, Any, Any], impl.function(*args, **keywords))  # a generator function
            next(gen)
    except StopIteration:
        logger.error("DSN plugin %s: its %s wrapper did not yield; skipped", impl.plugin_name, hook_name)
        return None
    except Exception:
        logger.exception("DSN plugin %s failed in %s (wrapper); skipped", impl.plugin_name, hook_name)
        return None
    return gen


def _finish_wrapper(impl: pluggy.HookImpl, gen: Generator[Any, Any, Any], hook_name: str, result: Any) -> Any:
    """Resume a wrapper after its ``yield`` with the result; return what it makes of it."""
    outcome = pluggy.Result(result, None) if impl.hookwrapper else None
    try:
        with _traced(hook_name, f"{impl.plugin_name} (wrapper, after)"):
            gen.send(outcome if impl.hookwrapper else result)
    except StopIteration as stop:
        if outcome is not None:
            return outcome.get_result()  # an old-style wrapper may force_result()
        return stop.value
    except Exception:
        logger.exception("DSN plugin %s failed in %s (wrapper); result kept", impl.plugin_name, hook_name)
        return result
    gen.close()
    logger.error("DSN plugin %s: its %s wrapper yielded twice; result kept", impl.plugin_name, hook_name)
    return result


def call_hook(hook_name: str, **kwargs: Any) -> Any:
    """Call a hook with pluggy's semantics and per-implementation isolation.

    Returns the list of non-``None`` results (or the first one, for a ``firstresult`` spec),
    as pluggy would. An implementation that raises is logged and skipped: one plugin's bug
    never reaches the caller or the other plugins.
    """
    caller = getattr(hook(), hook_name)
    spec = caller.spec
    firstresult = bool(spec and spec.opts.get("firstresult"))
    trace = tracing()
    started = time.perf_counter() if trace else 0.0
    impls = caller.get_hookimpls()
    teardowns: list[tuple[pluggy.HookImpl, Generator[Any, Any, Any]]] = []
    for impl in reversed(impls):  # wrappers, outermost first
        if impl.wrapper or impl.hookwrapper:
            gen = _start_wrapper(impl, hook_name, kwargs)
            if gen is not None:
                teardowns.append((impl, gen))
    results: list[Any] = []
    for impl in _call_order(impls):
        args, keywords = _arguments(impl, kwargs)
        try:
            with _traced(hook_name, impl.plugin_name):
                value = impl.function(*args, **keywords)
        except Exception:
            logger.exception("DSN plugin %s failed in %s", impl.plugin_name, hook_name)
            continue
        if value is not None:
            results.append(value)
            if firstresult:
                break
    result: Any = (results[0] if results else None) if firstresult else results
    for impl, gen in reversed(teardowns):
        result = _finish_wrapper(impl, gen, hook_name, result)
    if trace:
        _trace_handler()
        trace_logger.info(
            "%s(%s): %d implementation(s) in %.3f ms",
            hook_name,
            ", ".join(sorted(kwargs)),
            len(impls),
            (time.perf_counter() - started) * 1000,
        )
    return result


def call_observers(hook_name: str, **kwargs: Any) -> None:
    """Call an observer hook (its results are ignored); a plugin raising is logged, never propagated."""
    call_hook(hook_name, **kwargs)


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
            "name": name,
            "distribution": info.distribution,
            "version": info.version,
            "hooks": list(info.hooks),
            "registered": {k: list(v) for k, v in info.registered.items()},
            "problems": [],
            "fix": "",
            "checks": [],
        }
    for problem in reg.problems:
        entry = plugins.setdefault(
            problem.plugin,
            {
                "name": problem.plugin,
                "distribution": problem.distribution,
                "version": problem.version,
                "hooks": [],
                "registered": {},
                "problems": [],
                "fix": "",
                "checks": [],
            },
        )
        entry["problems"].append(problem.reason)
        entry["fix"] = problem.fix
    for entry in plugins.values():
        for key in entry["registered"].get("messengers", []):
            cls = reg.messengers.get(key)
            if cls is None:
                continue
            for message in messenger_checks(cls):
                level = "error" if message.level >= ERROR else "warning" if message.level >= WARNING else "info"
                entry["checks"].append(
                    {
                        "messenger": key,
                        "level": level,
                        "id": message.id or "",
                        "message": message.msg,
                        "hint": message.hint or "",
                    }
                )
        levels = {c["level"] for c in entry["checks"]}
        entry["status"] = (
            "broken"
            if entry["problems"]
            else "errors"
            if "error" in levels
            else "warnings"
            if "warning" in levels
            else "ok"
        )
    return [plugins[name] for name in sorted(plugins)]
