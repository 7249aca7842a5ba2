"""The person's own page: preferred channels (only those they have an address on), quiet hours."""

from __future__ import annotations

from datetime import time
from typing import Any

import pytest

from dsn_core.models import Address, DeliveryPreference

pytestmark = pytest.mark.django_db


def test_rank_channels_and_set_quiet_hours(client: Any, flow: Any, person: Any) -> None:
    flow("chat", "mail", "pager")
    Address.objects.filter(user=person, messenger="pager").delete()
    client.force_login(person)
    assert 'href="/dsn/preferences/delivery/"' in client.get("/dsn/preferences/").content.decode()
    page = client.get("/dsn/preferences/delivery/").content.decode()
    assert 'value="chat"' in page and 'value="mail"' in page and 'value="pager"' not in page
    response = client.post(
        "/dsn/preferences/delivery/",
        {
            "channel_1": "mail",
            "channel_2": "chat",
            "quiet_start": "22:00",
            "quiet_end": "07:00",
            "time_zone": "Asia/Tokyo",
        },
    )
    assert "Saved." in response.content.decode()
    pref = DeliveryPreference.objects.get(user=person)
    assert (pref.channels, pref.quiet_start, pref.quiet_end, pref.time_zone) == (
        ["mail", "chat"],
        time(22),
        time(7),
        "Asia/Tokyo",
    )
    assert 'value="mail" selected' in client.get("/dsn/preferences/delivery/").content.decode()


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"channel_1": "chat", "channel_2": "chat"}, "Choose each channel once."),
        ({"quiet_start": "22:00"}, "Give both ends of the quiet hours, or neither."),
        ({"channel_1": "pigeon"}, "Select a valid choice."),
        ({"time_zone": "Mars/Olympus"}, "Select a valid choice."),
    ],
)
def test_bad_input_is_refused_and_nothing_saved(client: Any, flow: Any, person: Any, data: dict, error: str) -> None:
    flow("chat", "mail")
    client.force_login(person)
    response = client.post("/dsn/preferences/delivery/", data)
    assert error in response.content.decode()
    assert not DeliveryPreference.objects.exists()


def test_login_required(client: Any) -> None:
    assert client.get("/dsn/preferences/delivery/").status_code == 302
