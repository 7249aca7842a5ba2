"""The trigger form: models offered without internal tables, and the builder's field data."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.test import Client

from dsn_core.conditionforms import model_fields, offered_content_types
from dsn_core.models import Delivery, Trigger

pytestmark = pytest.mark.django_db


def test_internal_tables_are_not_offered_but_a_stored_one_stays() -> None:
    labels = {(ct.app_label, ct.model) for ct in offered_content_types()}
    assert ("testapp", "article") in labels and ("auth", "user") in labels
    assert not {lbl for lbl in labels if lbl[0] in ("dsn_core", "sessions", "contenttypes")}
    assert ("auth", "permission") not in labels
    delivery_ct = ContentType.objects.get_for_model(Delivery)
    assert delivery_ct in offered_content_types(delivery_ct.pk)


def test_builder_knows_each_fields_kind() -> None:
    kinds = {f["name"]: f["kind"] for f in model_fields(get_user_model())}
    assert kinds["is_staff"] == "bool" and kinds["date_joined"] == "datetime" and kinds["username"] == "text"
    assert kinds["id"] == "number"


def test_the_add_page_carries_the_builder_data(client: Client, admin_user: Any) -> None:
    client.force_login(admin_user)
    html = client.get("/admin/dsn_core/trigger/add/").content.decode()
    data = json.loads(re.search(r'id="id_conditions-builder-data" type="application/json">(.*?)</script>', html)[1])
    article = str(ContentType.objects.get(app_label="testapp", model="article").pk)
    assert "status" in [f["name"] for f in data["models"][article]["fields"]]
    assert ["changed_from_to", "changed from … to …"] in data["ops"]
    assert str(ContentType.objects.get_for_model(Trigger).pk) not in data["models"]
    assert '<details class="dsn-advanced" open>' in html  # without JavaScript the JSON is at hand


def test_a_choice_field_carries_its_choices() -> None:
    status = next(f for f in model_fields(Delivery) if f["name"] == "status")
    assert status["kind"] == "choice" and ["dead", "dead (gave up)"] in status["choices"]


def test_verbs_read_as_words_with_their_name(client: Client, admin_user: Any) -> None:
    client.force_login(admin_user)
    html = client.get("/admin/dsn_core/trigger/add/").content.decode()
    assert '<option value="post_save">An object is saved (created or changed) (post_save)</option>' in html
    assert '<option value="user_logged_in">A user logs in (user_logged_in)</option>' in html
    assert html.index('value="post_save"') < html.index('value="m2m_changed"')  # the common one first
