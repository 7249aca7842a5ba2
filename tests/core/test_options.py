"""Backend options arrive in ``Messenger.option_values`` validated, typed and with defaults filled."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from dsn_core.api import Messenger, Option, SendResult, hookimpl


class Typed(Messenger):
    key = "typed"
    label = "Typed options"
    options = (
        Option("loud", "ring", default=False, type=bool),
        Option("tries", "how many", default=3, type=int),
        Option("ratio", "a share", type=float),
        Option("mode", "one of", default="fast", choices=("fast", "slow")),
        Option("level", "1 to 3", type=int, choices=(1, 2, 3)),
        Option("room", "required text", required=True),
    )

    def send(self, message: Any) -> SendResult:
        return SendResult()


@pytest.mark.parametrize("text", ["false", "False", " OFF ", "0", "no", "n", 0, False])
def test_false_words_are_false(text: Any) -> None:
    assert Typed({"room": "r", "loud": text}).option_values["loud"] is False


@pytest.mark.parametrize("text", ["true", "TRUE", "1", "on", "yes", 1, True])
def test_true_words_are_true(text: Any) -> None:
    assert Typed({"room": "r", "loud": text}).option_values["loud"] is True


@pytest.mark.parametrize("value", ["maybe", 2, [], "tru"])
def test_anything_else_is_not_a_boolean(value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        Typed.clean_options({"room": "r", "loud": value})
    assert info.value.messages == [f"Option 'loud' must be true or false, not {value!r}."]


def test_numbers_are_converted() -> None:
    options = Typed({"room": "r", "tries": " 5 ", "ratio": "0.25", "level": "2"}).option_values
    assert options == {"room": "r", "loud": False, "tries": 5, "ratio": 0.25, "mode": "fast", "level": 2}
    assert type(options["tries"]) is int and type(options["ratio"]) is float
    assert Typed({"room": "r", "tries": 4.0, "ratio": 1}).option_values["tries"] == 4


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("tries", "3.5", "Option 'tries' must be a whole number, not '3.5'."),
        ("tries", True, "Option 'tries' must be a whole number, not True."),
        ("ratio", "lots", "Option 'ratio' must be a number, not 'lots'."),
        ("level", "7", "Option 'level' must be one of 1, 2, 3, not 7."),
        ("mode", "warp", "Option 'mode' must be one of fast, slow, not 'warp'."),
        ("room", ["a"], "Option 'room' must be text, not ['a']."),
    ],
)
def test_bad_values_are_refused_with_a_sentence(name: str, value: Any, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        Typed.clean_options({"room": "r", name: value})
    assert info.value.messages == [message]


def test_defaults_filled_required_enforced_unknown_refused_all_at_once() -> None:
    assert Typed({"room": "r"}).option_values == {"room": "r", "loud": False, "tries": 3, "mode": "fast"}
    with pytest.raises(ValidationError) as info:
        Typed.clean_options({"colour": "red", "tries": "x", "room": ""})
    messages = info.value.messages
    assert any(m.startswith("Unknown option(s) colour for typed; allowed: ") for m in messages)
    assert "Option 'room' is required: required text" in messages
    assert "Option 'tries' must be a whole number, not 'x'." in messages


class _TypedPlugin:
    @hookimpl
    def register_messengers(self, register):
        register(Typed)


@pytest.mark.django_db
def test_a_saved_backend_stores_typed_options(dsn_plugin) -> None:
    from dsn_core.models import Backend, MessageTemplate

    dsn_plugin("typed", _TypedPlugin())
    backend = Backend(
        name="b",
        messenger="typed",
        template=MessageTemplate.objects.create(name="t", text="x"),
        options={"room": "r", "loud": "off", "tries": "2"},
    )
    backend.full_clean()
    backend.save()
    backend.refresh_from_db()
    assert backend.options == {"room": "r", "loud": False, "tries": 2, "mode": "fast"}
    backend.options = {"room": "r", "loud": "perhaps"}
    with pytest.raises(ValidationError) as info:
        backend.full_clean()
    assert info.value.message_dict["options"] == ["Option 'loud' must be true or false, not 'perhaps'."]


def test_the_official_channels_read_false_as_false() -> None:
    from dsn_sms.messenger import SmsMessenger
    from dsn_twitter.messenger import TwitterMessenger

    for cls in (SmsMessenger, TwitterMessenger):
        bools = [opt.name for opt in cls.options if opt.type is bool]
        assert bools, cls
        cleaned = cls.clean_options({name: "false" for name in bools})
        assert all(cleaned[name] is False for name in bools), cleaned


# -- declarations on the class, values on the instance (``options`` read on an instance: deprecated) ---


def test_options_are_the_declarations_and_option_values_the_values() -> None:
    messenger = Typed({"room": "r", "tries": "5"})
    assert Typed.options[0] == Option("loud", "ring", default=False, type=bool)
    assert messenger.option_values == {"room": "r", "loud": False, "tries": 5, "mode": "fast"}


def test_reading_values_from_options_on_an_instance_still_works_but_warns() -> None:
    messenger = Typed({"room": "r", "tries": "5"})
    for read in (lambda o: o["tries"], lambda o: o.get("tries"), lambda o: dict(o)["tries"]):
        with pytest.warns(DeprecationWarning, match="option_values") as caught:
            assert read(messenger.options) == 5
        assert caught[0].filename == __file__, "the warning must point at the plugin's line, not the core's"
    with pytest.warns(DeprecationWarning):
        assert "room" in messenger.options
