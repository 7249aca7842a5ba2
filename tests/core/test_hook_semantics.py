"""Hooks follow pluggy's rules (order, tryfirst/trylast, firstresult, wrappers) while one
plugin's exception never reaches the caller or the other plugins; DSN_TRACE_HOOKS traces calls."""

from __future__ import annotations

import logging
from typing import Any

import pluggy
import pytest

from dsn_core import hookspecs, plugins
from dsn_core.api import Messenger, SendResult, hookimpl

hookspec = pluggy.HookspecMarker("dsn")


def _observer(name: str, calls: list[str], **opts: Any) -> object:
    class Plugin:
        @hookimpl(**opts)
        def delivery_finished(self, status: str) -> None:
            calls.append(name)

    return Plugin()


def test_observers_run_in_pluggys_order(dsn_plugin) -> None:
    calls: list[str] = []
    dsn_plugin("first-registered", _observer("first-registered", calls))
    dsn_plugin("second-registered", _observer("second-registered", calls))
    dsn_plugin("wants-last", _observer("wants-last", calls, trylast=True))
    dsn_plugin("wants-first", _observer("wants-first", calls, tryfirst=True))
    plugins.call_observers("delivery_finished", delivery=None, status="sent", error="")
    # pluggy: tryfirst first, then the plugin registered last first, trylast at the end
    assert calls == ["wants-first", "second-registered", "first-registered", "wants-last"]
    calls.clear()
    pm = pluggy.PluginManager("dsn")  # the same plugins under plain pluggy: the same order
    pm.add_hookspecs(hookspecs)
    for name in ("first-registered", "second-registered", "wants-last", "wants-first"):
        opts = {"trylast": True} if name == "wants-last" else {"tryfirst": True} if name == "wants-first" else {}
        pm.register(_observer(name, calls, **opts), name=name)
    pm.hook.delivery_finished(delivery=None, status="sent", error="")
    assert calls == ["wants-first", "second-registered", "first-registered", "wants-last"]


def test_an_observer_that_raises_is_isolated(dsn_plugin, caplog) -> None:
    calls: list[str] = []

    class Exploding:
        @hookimpl
        def delivery_finished(self) -> None:
            raise RuntimeError("observer bug")

    dsn_plugin("before", _observer("before", calls))
    dsn_plugin("exploding", Exploding())
    dsn_plugin("after", _observer("after", calls, trylast=True))
    with caplog.at_level(logging.ERROR, "dsn_core.plugins"):
        plugins.call_observers("delivery_finished", delivery=None, status="sent", error="")
    assert calls == ["before", "after"]
    assert "DSN plugin exploding failed in delivery_finished" in caplog.text


def _patterns(tag: str) -> object:
    class Plugin:
        @hookimpl
        def urlpatterns(self) -> list[str]:
            return [tag]

    return Plugin()


def test_new_style_wrappers_wrap_the_results(dsn_plugin) -> None:
    seen: list[Any] = []

    class Wrapper:
        @hookimpl(wrapper=True)
        def urlpatterns(self):
            result = yield
            seen.append(list(result))
            return [*result, ["added by the wrapper"]]

    dsn_plugin("a", _patterns("a"))
    dsn_plugin("wrapper", Wrapper())
    result = plugins.call_hook("urlpatterns")
    assert ["a"] in seen[0] and result[-1] == ["added by the wrapper"]


def test_old_style_hookwrappers_can_force_the_result(dsn_plugin) -> None:
    class OldWrapper:
        @hookimpl(hookwrapper=True)
        def urlpatterns(self):
            outcome = yield
            outcome.force_result([*outcome.get_result(), ["forced"]])

    dsn_plugin("a", _patterns("a"))
    dsn_plugin("old", OldWrapper())
    assert plugins.call_hook("urlpatterns")[-1] == ["forced"]


def test_a_broken_wrapper_leaves_the_result_alone(dsn_plugin, caplog) -> None:
    class RaisesBefore:
        @hookimpl(wrapper=True)
        def urlpatterns(self):
            raise RuntimeError("before yield")
            yield  # pragma: no cover

    class RaisesAfter:
        @hookimpl(wrapper=True)
        def urlpatterns(self):
            yield
            raise RuntimeError("after yield")

    class NeverYields:
        @hookimpl(wrapper=True)
        def urlpatterns(self):
            return
            yield  # pragma: no cover

    dsn_plugin("a", _patterns("a"))
    for name, plugin in (("before", RaisesBefore()), ("after", RaisesAfter()), ("never", NeverYields())):
        dsn_plugin(name, plugin)
    with caplog.at_level(logging.ERROR, "dsn_core.plugins"):
        result = plugins.call_hook("urlpatterns")
    assert ["a"] in result
    assert "before failed in urlpatterns (wrapper)" in caplog.text
    assert "after failed in urlpatterns (wrapper)" in caplog.text
    assert "never: its urlpatterns wrapper did not yield" in caplog.text


class _FirstResultSpecs:
    @hookspec(firstresult=True)
    def pick_colour(self, item: str) -> str | None:
        """A test-only firstresult hook."""


def test_firstresult_stops_at_the_first_answer_and_skips_failures(dsn_plugin, monkeypatch) -> None:
    new_manager = plugins._new_manager

    def with_test_spec() -> pluggy.PluginManager:
        pm = new_manager()
        pm.add_hookspecs(_FirstResultSpecs)
        return pm

    monkeypatch.setattr(plugins, "_new_manager", with_test_spec)
    asked: list[str] = []

    def answering(name: str, answer: str | None, **opts: Any) -> object:
        class Plugin:
            @hookimpl(**opts)
            def pick_colour(self, item: str) -> str | None:
                asked.append(name)
                if answer == "raise":
                    raise ValueError("broken picker")
                return answer

        return Plugin()

    dsn_plugin("late", answering("late", "blue", trylast=True))
    dsn_plugin("silent", answering("silent", None))
    dsn_plugin("broken", answering("broken", "raise", tryfirst=True))
    assert plugins.call_hook("pick_colour", item="car") == "blue"
    assert asked == ["broken", "silent", "late"]
    asked.clear()
    dsn_plugin("eager", answering("eager", "red"))
    assert plugins.call_hook("pick_colour", item="car") == "red"
    assert asked == ["broken", "eager"]  # the rest were never asked


def _messenger(key: str, label: str) -> type[Messenger]:
    return type(
        f"M{label.replace(' ', '')}",
        (Messenger,),
        {
            "key": key,
            "label": label,
            "send": lambda self, message: SendResult(),
        },
    )


def test_tryfirst_claims_a_contested_key_first(dsn_plugin) -> None:
    plain, eager = _messenger("owl", "Plain owl"), _messenger("owl", "Eager owl")

    class Plain:
        @hookimpl
        def register_messengers(self, register):
            register(plain)

    class Eager:
        @hookimpl(tryfirst=True)
        def register_messengers(self, register):
            register(eager)

    dsn_plugin("a-plain", Plain())
    dsn_plugin("b-eager", Eager())
    assert plugins.get_messenger_class("owl") is eager
    assert any(p.plugin == "a-plain" and "'owl' is already registered" in p.reason for p in plugins.registry().problems)


def test_built_in_keys_cannot_be_taken_even_with_tryfirst(dsn_plugin) -> None:
    class Greedy:
        @hookimpl(tryfirst=True)
        def register_messengers(self, register):
            register(_messenger("console", "Not the console"))

    dsn_plugin("greedy", Greedy())
    assert plugins.get_messenger_class("console").label != "Not the console"


def test_a_wrapper_on_a_register_hook_is_refused_at_load_time(dsn_plugin) -> None:
    class Wrapping:
        @hookimpl(wrapper=True)
        def register_messengers(self, register):
            return (yield)

    dsn_plugin("wrapping", Wrapping())
    [problem] = [p for p in plugins.registry().problems if p.plugin == "wrapping"]
    assert "register_messengers cannot be a wrapper" in problem.reason
    assert "wrapping" not in plugins.registry().plugins


def test_trace_hooks_logs_each_call_and_its_duration(dsn_plugin, monkeypatch, caplog) -> None:
    calls: list[str] = []
    dsn_plugin("watcher", _observer("watcher", calls))
    monkeypatch.setenv("DSN_TRACE_HOOKS", "1")
    plugins.reset()
    with caplog.at_level(logging.INFO, "dsn_core.hooks"):
        plugins.registry()
        plugins.call_observers("delivery_finished", delivery=None, status="sent", error="")
    lines = [r.getMessage() for r in caplog.records if r.name == "dsn_core.hooks"]
    assert any(line.startswith("register_messengers: dsn_core took ") for line in lines), lines
    assert any(line.startswith("delivery_finished: watcher took ") and line.endswith(" ms") for line in lines)
    assert any(line.startswith("delivery_finished(delivery, error, status): ") for line in lines)
    caplog.clear()
    monkeypatch.setenv("DSN_TRACE_HOOKS", "0")
    with caplog.at_level(logging.INFO, "dsn_core.hooks"):
        plugins.call_observers("delivery_finished", delivery=None, status="sent", error="")
    assert not [r for r in caplog.records if r.name == "dsn_core.hooks"]
    assert calls == ["watcher", "watcher"]


@pytest.fixture(autouse=True)
def _fresh_registry():
    yield
    plugins.reset()


def test_arguments_with_defaults_are_passed_by_keyword_as_pluggy_does(dsn_plugin) -> None:
    seen: list[tuple[str, str]] = []

    class WithDefault:
        @hookimpl
        def delivery_finished(self, status: str, error: str = "unset") -> None:
            seen.append((status, error))

    dsn_plugin("defaults", WithDefault())
    plugins.call_observers("delivery_finished", delivery=None, status="failed", error="HTTP 503")
    assert seen == [("failed", "HTTP 503")]
