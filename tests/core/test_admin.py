"""DSN's admin through the Django test client: a superuser, and staff with limited permissions."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.dispatch import Signal
from django.test import Client
from django.utils import timezone

from dsn_core import hookimpl
from dsn_core.addresses import set_address
from dsn_core.fanout import fan_out
from dsn_core.messengers import Message, Messenger, Option, SendResult
from dsn_core.models import Address, Backend, Delivery, MessageTemplate, Notification, OptOut, Subscription, Trigger
from dsn_core.verbs import register_signal, unregister_signal
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db

SECRET = "sekrit-token-9f3a2c"


# -- helpers -------------------------------------------------------------------------------


class BookMessenger(Messenger):
    """A test messenger that finds addresses in the core address book (the default)."""

    key = "book"
    label = "Address book test channel"
    options = (Option("prefix", "text put before every message"),)
    sent: list[Message] = []
    explode = False

    def send(self, message: Message) -> SendResult:
        if BookMessenger.explode:
            raise RuntimeError(f"POST https://provider.test/bot{SECRET}/send: connection reset")
        BookMessenger.sent.append(message)
        return SendResult(provider_id=f"book-{len(BookMessenger.sent)}")


@hookimpl
def _register_book(register: Any) -> None:
    register(BookMessenger)


book_plugin = SimpleNamespace(register_messengers=_register_book)


@pytest.fixture
def book(dsn_plugin: Any) -> type[BookMessenger]:
    BookMessenger.sent = []
    BookMessenger.explode = False
    dsn_plugin("book-tests", book_plugin)
    return BookMessenger


@pytest.fixture
def su(client: Client, admin_user: Any) -> Client:
    client.force_login(admin_user)
    return client


def staff_client(django_user_model: Any, *codenames: str, username: str = "staff") -> Client:
    user = django_user_model.objects.create_user(username, f"{username}@example.com", "pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="dsn_core", codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def flash(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def select_options(html: str, name: str) -> dict[str, str]:
    """``{value: label}`` of the <select name=...> in ``html``."""
    match = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert match, f"no select {name}"
    return {v: label.strip() for v, label in re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', match[1])}


def form_errors(response: Any) -> str:
    form = response.context["adminform"].form
    return " ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())


def _flow_with_logs(make_flow: Any, admin_user: Any, capture: Any, **kwargs: Any) -> Subscription:
    sub = make_flow(Article, users=[admin_user], **kwargs)
    with capture(execute=True):
        Article.objects.create(title="Hello")
    return sub


# -- every page loads ----------------------------------------------------------------------


def test_every_admin_page_loads(su, admin_user, make_flow, django_capture_on_commit_callbacks):
    sub = _flow_with_logs(make_flow, admin_user, django_capture_on_commit_callbacks)
    address = Address.objects.create(user=admin_user, messenger="locmem", address="admin")
    opt_out = OptOut.objects.create(user=admin_user, messenger="locmem")
    notification = Notification.objects.get()
    delivery = Delivery.objects.get()
    objects = {
        "trigger": sub.trigger,
        "messagetemplate": sub.backends.get().template,
        "backend": sub.backends.get(),
        "subscription": sub,
        "address": address,
        "optout": opt_out,
        "notification": notification,
        "delivery": delivery,
    }
    for name, obj in objects.items():
        for url in (f"/admin/dsn_core/{name}/", f"/admin/dsn_core/{name}/{obj.pk}/change/"):
            response = su.get(url)
            assert response.status_code == 200, (url, response.status_code)
            assert str(obj).split(" ")[0] in response.content.decode(), url
        add = su.get(f"/admin/dsn_core/{name}/add/")
        assert add.status_code == (403 if name in ("notification", "delivery") else 200), name
    assert su.get("/admin/dsn_core/").status_code == 200


# -- dropdowns from the plugins ------------------------------------------------------------


def test_verb_dropdown_lists_registered_signals_including_new_ones(su):
    order_paid = Signal()
    register_signal("order_paid", order_paid, description="an order was paid")
    try:
        choices = select_options(su.get("/admin/dsn_core/trigger/add/").content.decode(), "verb")
    finally:
        unregister_signal("order_paid")
    assert {"post_save", "user_logged_in", "m2m_changed", "order_paid"} <= set(choices)
    assert choices["order_paid"] == "order_paid — an order was paid"
    assert "order_paid" not in select_options(su.get("/admin/dsn_core/trigger/add/").content.decode(), "verb")


def test_messenger_dropdown_shows_a_new_plugin_without_a_migration(su, dsn_plugin):
    before = select_options(su.get("/admin/dsn_core/backend/add/").content.decode(), "messenger")
    assert "book" not in before and {"console", "locmem"} <= set(before)
    dsn_plugin("book-tests", book_plugin)
    page = su.get("/admin/dsn_core/backend/add/").content.decode()
    assert select_options(page, "messenger")["book"] == "Address book test channel"
    assert "text put before every message" in page  # the Option help
    call_command("makemigrations", "dsn_core", "--check", "--dry-run", verbosity=0)  # no migration needed


def test_engine_dropdown_lists_engines(su):
    choices = select_options(su.get("/admin/dsn_core/messagetemplate/add/").content.decode(), "engine")
    assert choices == {"django": "Django templates"}


def test_backend_of_an_uninstalled_messenger_shows_not_installed_and_keeps_its_value(su, make_flow):
    sub = make_flow(Article)
    backend = sub.backends.get()
    Backend.objects.filter(pk=backend.pk).update(messenger="pigeon")
    page = su.get(f"/admin/dsn_core/backend/{backend.pk}/change/").content.decode()
    choices = select_options(page, "messenger")
    assert choices["pigeon"] == "pigeon (not installed)"
    assert re.search(r'<option value="pigeon" selected>', page)
    assert "pigeon (not installed)" in su.get("/admin/dsn_core/backend/").content.decode()
    # Saving it unchanged says why instead of silently switching channels.
    data = {"name": backend.name, "messenger": "pigeon", "template": backend.template_id, "options": "{}"}
    response = su.post(f"/admin/dsn_core/backend/{backend.pk}/change/", data)
    assert response.status_code == 200
    assert "Messenger pigeon is not installed" in form_errors(response)
    assert Backend.objects.get(pk=backend.pk).messenger == "pigeon"


def test_an_unregistered_verb_stays_visible_on_its_trigger(su, make_flow):
    sub = make_flow(Article)
    Trigger.objects.filter(pk=sub.trigger_id).update(verb="gone_signal")
    choices = select_options(su.get(f"/admin/dsn_core/trigger/{sub.trigger_id}/change/").content.decode(), "verb")
    assert choices["gone_signal"] == "gone_signal (not registered)"


# -- validation shows as form errors -------------------------------------------------------


def _trigger_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "name": "paid",
        "verb": "post_save",
        "enabled": "on",
        "action_object_type": ContentType.objects.get_for_model(Article).pk,
        "action_object_id": "",
        "actor_type": "",
        "actor_id": "",
        "target": "",
        "conditions": "[]",
        "subscriptions-TOTAL_FORMS": "0",
        "subscriptions-INITIAL_FORMS": "0",
        "subscriptions-MIN_NUM_FORMS": "0",
        "subscriptions-MAX_NUM_FORMS": "1000",
    }
    data.update(overrides)
    return data


def test_trigger_conditions_are_validated(su):
    bad_field = _trigger_data(conditions='[{"field": "colour", "op": "eq", "value": "red"}]')
    response = su.post("/admin/dsn_core/trigger/add/", bad_field)
    assert response.status_code == 200
    assert "condition 1" in form_errors(response) and "no field 'colour'" in form_errors(response)
    bad_json = _trigger_data(conditions='[\n  {"field": "status",\n   "op" "eq"}\n]')
    assert "Invalid JSON at line 3" in form_errors(su.post("/admin/dsn_core/trigger/add/", bad_json))
    missing = _trigger_data(action_object_id="999")
    assert "No article with id 999" in form_errors(su.post("/admin/dsn_core/trigger/add/", missing))
    assert not Trigger.objects.exists()
    good = _trigger_data(conditions='[{"field": "status", "op": "eq", "value": "paid"}]')
    assert su.post("/admin/dsn_core/trigger/add/", good).status_code == 302
    assert Trigger.objects.get().conditions == [{"field": "status", "op": "eq", "value": "paid"}]


def test_trigger_with_an_inline_subscription_is_saved(su, make_flow, admin_user):
    backend = make_flow(Article).backends.get()
    data = _trigger_data(
        **{
            "subscriptions-TOTAL_FORMS": "1",
            "subscriptions-0-name": "owners",
            "subscriptions-0-enabled": "on",
            "subscriptions-0-backends": [backend.pk],
            "subscriptions-0-receiver_users": [admin_user.pk],
            "subscriptions-0-dynamic_receivers": ["instance.owner"],
            "subscriptions-0-fixed_addresses__locmem": "",
        }
    )
    response = su.post("/admin/dsn_core/trigger/add/", data)
    assert response.status_code == 302, response.context and form_errors(response)
    sub = Subscription.objects.get(name="owners")
    assert sub.trigger.name == "paid" and list(sub.receiver_users.all()) == [admin_user]
    assert sub.dynamic_receivers == ["instance.owner"] and sub.fixed_addresses == {}
    data["subscriptions-0-dynamic_receivers"] = []
    data["subscriptions-0-other_receivers"] = "instance.nope"
    data["name"] = "second"
    response = su.post("/admin/dsn_core/trigger/add/", data)
    assert response.status_code == 200
    assert "has no field or attribute 'nope'" in str(response.context["inline_admin_formsets"][0].formset.errors)


def test_template_syntax_error_shows_its_line(su):
    data = {"name": "broken", "engine": "django", "subject": "Hi", "text": "line one\n{% if %}\nline three", "html": ""}
    response = su.post("/admin/dsn_core/messagetemplate/add/", data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["text"][0].startswith("line 2:")
    assert not MessageTemplate.objects.exists()


def test_backend_options_are_checked_by_the_messenger(su, make_flow):
    template = make_flow(Article).backends.get().template
    data = {"name": "b2", "messenger": "locmem", "template": template.pk, "options": '{"colour": "red"}'}
    response = su.post("/admin/dsn_core/backend/add/", data)
    assert "Unknown option(s) colour for locmem" in form_errors(response)
    data["options"] = '{"fail": "sometimes"}'
    assert "must be one of transient, permanent" in form_errors(su.post("/admin/dsn_core/backend/add/", data))
    data["options"] = '{"fail": "transient"}'
    assert su.post("/admin/dsn_core/backend/add/", data).status_code == 302
    assert Backend.objects.get(name="b2").options == {"fail": "transient"}


# -- preview and send a test ---------------------------------------------------------------


def _template(text: str = "{{ instance.title }} for {{ recipient }} by {{ actor }}") -> MessageTemplate:
    return MessageTemplate.objects.create(
        name="preview", subject="About {{ instance }}", text=text, html="<p>{{ instance.title }}</p>"
    )


def test_preview_renders_against_a_chosen_object(su):
    template = _template()
    article = Article.objects.create(title="Tom & Jerry")
    ct = ContentType.objects.get_for_model(Article).pk
    response = su.get(
        f"/admin/dsn_core/messagetemplate/{template.pk}/preview/",
        {"verb": "post_save", "content_type": ct, "object_id": article.pk},
    )
    assert response.status_code == 200
    assert response.context["rendered"] == (
        "About Tom & Jerry",
        "Tom & Jerry for admin by admin",
        "<p>Tom &amp; Jerry</p>",
    )
    assert "Send a test to me" in response.content.decode()
    change = su.get(f"/admin/dsn_core/messagetemplate/{template.pk}/change/").content.decode()
    assert f"/admin/dsn_core/messagetemplate/{template.pk}/preview/" in change


def test_preview_reports_a_missing_object_and_a_render_error(su):
    template = _template("{% url 'no-such-view' %}")
    ct = ContentType.objects.get_for_model(Article).pk
    url = f"/admin/dsn_core/messagetemplate/{template.pk}/preview/"
    missing = su.get(url, {"verb": "post_save", "content_type": ct, "object_id": "404"})
    assert "No article with id 404" in str(missing.context["form"].errors)
    assert missing.context["rendered"] is None
    failing = su.get(url)
    assert "rendering failed" in failing.context["error"]
    assert su.get("/admin/dsn_core/messagetemplate/9999/preview/").status_code == 302  # does not exist


def test_send_a_test_delivers_to_me_through_the_backend(su, make_flow, dsn_outbox):
    backend = make_flow(Article).backends.get()
    template = _template()
    article = Article.objects.create(title="Launch")
    ct = ContentType.objects.get_for_model(Article).pk
    url = f"/admin/dsn_core/messagetemplate/{template.pk}/send-test/"
    assert su.get(url).status_code == 405
    response = su.post(url, {"backend": backend.pk, "verb": "post_save", "content_type": ct, "object_id": article.pk})
    assert response.status_code == 302 and "object_id=" in response["Location"]
    sent = [(m.address, m.subject, m.text) for m in dsn_outbox]
    assert sent == [("admin", "About Launch", "Launch for admin by admin")]
    assert any("Test sent through b-locmem to admin: accepted (provider id locmem-1)" in m for m in flash(response))


def test_send_a_test_reports_a_failure_and_a_missing_address(su, make_flow, dsn_outbox, book, admin_user):
    failing = make_flow(Article, options={"fail": "permanent"}).backends.get()
    template = _template()
    url = f"/admin/dsn_core/messagetemplate/{template.pk}/send-test/"
    response = su.post(url, {"backend": failing.pk, "verb": "post_save"})
    assert any("failed: permanent failure: locmem: asked to fail (permanent)" in m for m in flash(response))
    assert dsn_outbox == []
    book_backend = Backend.objects.create(name="by book", messenger="book", template=template)
    response = su.post(url, {"backend": book_backend.pk, "verb": "post_save"})
    assert any("you have no address on Address book test channel" in m for m in flash(response))
    assert book.sent == []
    set_address(admin_user, "book", "@admin-chat")
    response = su.post(url, {"backend": book_backend.pk, "verb": "post_save"})
    assert [m.address for m in book.sent] == ["@admin-chat"]
    assert any("accepted (provider id book-1)" in m for m in flash(response))
    response = su.post(url, {"verb": "post_save"})
    assert any("Nothing sent: Backend:" in m for m in flash(response))


def test_send_a_test_needs_change_permission_and_csrf(django_user_model, make_flow, dsn_outbox, admin_user):
    backend = make_flow(Article).backends.get()
    template = _template()
    url = f"/admin/dsn_core/messagetemplate/{template.pk}/send-test/"
    viewer = staff_client(django_user_model, "view_messagetemplate", "view_backend")
    assert viewer.get(f"/admin/dsn_core/messagetemplate/{template.pk}/preview/").context["send_form"] is None
    assert viewer.post(url, {"backend": backend.pk, "verb": "post_save"}).status_code == 403
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(admin_user)
    assert strict.post(url, {"backend": backend.pk, "verb": "post_save"}).status_code == 403
    assert dsn_outbox == []
    editor = staff_client(django_user_model, "change_messagetemplate", username="editor")
    editor.post(url, {"backend": backend.pk, "verb": "post_save"})
    assert [m.address for m in dsn_outbox] == ["editor"]


def test_secrets_never_reach_the_admin(su, settings, book, admin_user, make_flow, django_capture_on_commit_callbacks):
    settings.DSN = {**settings.DSN, "BOOK": {"TOKEN": SECRET}}
    template = _template()
    backend = Backend.objects.create(name="by book", messenger="book", template=template)
    set_address(admin_user, "book", "@admin-chat")
    book.explode = True
    response = su.post(
        f"/admin/dsn_core/messagetemplate/{template.pk}/send-test/", {"backend": backend.pk, "verb": "post_save"}
    )
    shown = " ".join(flash(response))
    assert "RuntimeError" in shown and "bot***/send" in shown and SECRET not in shown
    # A user's password hash is never snapshotted when a user is saved, so no page can show it.
    make_flow(type(admin_user), users=[admin_user])
    with django_capture_on_commit_callbacks(execute=True):
        type(admin_user).objects.create_user("newbie", password="pw-newbie")
    notification = Notification.objects.get()
    assert "password" not in notification.context["action_object"]["fields"]
    page = su.get(f"/admin/dsn_core/notification/{notification.pk}/change/").content.decode()
    assert "newbie" in page and "md5$" not in page
    for url in ("/admin/dsn_core/backend/add/", f"/admin/dsn_core/backend/{backend.pk}/change/"):
        assert SECRET not in su.get(url).content.decode()


# -- subscriptions: autocomplete and actions -----------------------------------------------


def test_subscription_uses_autocomplete_for_users_and_groups(su, admin_user):
    page = su.get("/admin/dsn_core/subscription/add/").content.decode()
    for field in ("receiver_users", "receiver_groups", "trigger", "backends"):
        assert re.search(rf'<select name="{field}"[^>]*class="[^"]*admin-autocomplete', page), field
    found = su.get(
        "/admin/autocomplete/",
        {"app_label": "dsn_core", "model_name": "subscription", "field_name": "receiver_users", "term": "adm"},
    ).json()
    assert [r["text"] for r in found["results"]] == ["admin"]


def test_enable_and_disable_actions_need_change_permission(su, make_flow, django_user_model):
    sub = make_flow(Article)
    response = su.post("/admin/dsn_core/subscription/", {"action": "disable_selected", ACTION_CHECKBOX_NAME: [sub.pk]})
    assert response.status_code == 302 and "1 disabled." in flash(response)
    assert Subscription.objects.get().enabled is False
    viewer = staff_client(django_user_model, "view_subscription")
    assert "enable_selected" not in viewer.get("/admin/dsn_core/subscription/").content.decode()
    viewer.post("/admin/dsn_core/subscription/", {"action": "enable_selected", ACTION_CHECKBOX_NAME: [sub.pk]})
    assert Subscription.objects.get().enabled is False
    su.post("/admin/dsn_core/subscription/", {"action": "enable_selected", ACTION_CHECKBOX_NAME: [sub.pk]})
    assert Subscription.objects.get().enabled is True
    su.post("/admin/dsn_core/trigger/", {"action": "disable_selected", ACTION_CHECKBOX_NAME: [sub.trigger_id]})
    assert Trigger.objects.get().enabled is False


def test_address_and_opt_out_admins(su, admin_user):
    data = {"user": admin_user.pk, "messenger": "console", "address": "admin-console", "active": "on"}
    assert su.post("/admin/dsn_core/address/add/", data).status_code == 302
    assert Address.objects.get().address == "admin-console"
    choices = select_options(su.get("/admin/dsn_core/address/add/").content.decode(), "messenger")
    assert "" not in choices and "locmem" in choices
    page = su.get("/admin/dsn_core/optout/add/").content.decode()
    assert "" in select_options(page, "messenger")
    assert 'data-ajax--url="/admin/autocomplete/"' in page
    assert su.post("/admin/dsn_core/optout/add/", {"user": admin_user.pk, "messenger": ""}).status_code == 302
    assert str(OptOut.objects.get()) == "admin opted out of everything"


# -- logs: read-only, filters, retry and resend --------------------------------------------


def test_logs_are_read_only(
    su, make_flow, admin_user, django_capture_on_commit_callbacks, django_user_model, dsn_outbox
):
    _flow_with_logs(make_flow, admin_user, django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get()
    page = su.get(f"/admin/dsn_core/delivery/{delivery.pk}/change/").content.decode()
    assert 'name="_save"' not in page and "locmem-1" in page
    assert su.post(f"/admin/dsn_core/delivery/{delivery.pk}/change/", {"status": "dead"}).status_code == 403
    assert su.post(f"/admin/dsn_core/delivery/{delivery.pk}/delete/", {"post": "yes"}).status_code == 403
    assert (
        su.post(f"/admin/dsn_core/notification/{delivery.notification_id}/delete/", {"post": "yes"}).status_code == 403
    )
    assert Delivery.objects.get().status == "sent" and Notification.objects.count() == 1
    viewer = staff_client(django_user_model, "view_delivery")
    assert viewer.get("/admin/dsn_core/delivery/").status_code == 200
    assert viewer.get("/admin/dsn_core/notification/").status_code == 403
    assert "retry_now" not in viewer.get("/admin/dsn_core/delivery/").content.decode()


def test_delivery_filters(su, make_flow, admin_user, django_capture_on_commit_callbacks):
    _flow_with_logs(make_flow, admin_user, django_capture_on_commit_callbacks, options={"fail": "permanent"})
    dead = Delivery.objects.get()
    assert dead.status == "dead"
    assert list(su.get("/admin/dsn_core/delivery/", {"status__exact": "dead"}).context["cl"].result_list) == [dead]
    assert list(su.get("/admin/dsn_core/delivery/", {"status__exact": "sent"}).context["cl"].result_list) == []
    by_trigger = su.get("/admin/dsn_core/delivery/", {"notification__trigger__id__exact": dead.notification.trigger_id})
    assert list(by_trigger.context["cl"].result_list) == [dead]
    assert list(su.get("/admin/dsn_core/delivery/", {"messenger": "email"}).context["cl"].result_list) == []
    page = su.get("/admin/dsn_core/delivery/").content.decode()
    assert "By status" in page and "By messenger" in page and "By trigger" in page


def test_cancel_stops_deliveries_that_have_not_reached_the_provider(
    su, admin_user, dsn_outbox, dsn_flush, django_user_model
):
    backend = Backend.objects.create(
        name="b", messenger="locmem", template=MessageTemplate.objects.create(name="t", text="x")
    )
    notification = Notification.objects.create(trigger_name="t", verb="post_save", fanned_out_at=timezone.now())
    rows = {
        status: Delivery.objects.create(
            notification=notification, backend=backend, messenger="locmem", address=f"to-{status}", status=status
        )
        for status in ("pending", "failed", "sending", "sent")
    }
    everything = [d.pk for d in rows.values()]
    viewer = staff_client(django_user_model, "view_delivery")
    viewer.post("/admin/dsn_core/delivery/", {"action": "cancel", ACTION_CHECKBOX_NAME: everything})
    assert Delivery.objects.filter(status="skipped").count() == 0  # viewing is not changing
    response = su.post("/admin/dsn_core/delivery/", {"action": "cancel", ACTION_CHECKBOX_NAME: everything})
    assert flash(response) == [
        "2 deliveries cancelled. 2 left alone (only pending or failed deliveries can be cancelled)."
    ]
    statuses = dict(Delivery.objects.values_list("address", "status"))
    assert statuses == {"to-pending": "skipped", "to-failed": "skipped", "to-sending": "sending", "to-sent": "sent"}
    assert Delivery.objects.get(address="to-pending").last_error == f"cancelled in the admin by {admin_user.username}"
    dsn_flush()
    assert dsn_outbox == []  # nothing cancelled is sent


def test_retry_now_requeues_dead_deliveries(
    su, make_flow, admin_user, dsn_outbox, django_capture_on_commit_callbacks, django_user_model
):
    sub = _flow_with_logs(make_flow, admin_user, django_capture_on_commit_callbacks, options={"fail": "permanent"})
    dead = Delivery.objects.get()
    assert dead.status == "dead" and dsn_outbox == []
    viewer = staff_client(django_user_model, "view_delivery")
    viewer.post("/admin/dsn_core/delivery/", {"action": "retry_now", ACTION_CHECKBOX_NAME: [dead.pk]})
    assert Delivery.objects.get().status == "dead"
    sub.backends.update(options={})  # the admin fixed the backend
    with django_capture_on_commit_callbacks(execute=True):
        response = su.post("/admin/dsn_core/delivery/", {"action": "retry_now", ACTION_CHECKBOX_NAME: [dead.pk]})
    assert "1 delivery queued again." in flash(response)
    retried = Delivery.objects.get()
    assert retried.status == "sent" and retried.attempts == 1 and retried.last_error == ""
    assert [m.address for m in dsn_outbox] == ["admin"]
    response = su.post("/admin/dsn_core/delivery/", {"action": "retry_now", ACTION_CHECKBOX_NAME: [dead.pk]})
    assert "1 skipped" in " ".join(flash(response)) and Delivery.objects.get().status == "sent"


def test_resend_creates_a_new_delivery_and_keeps_the_original(
    su, make_flow, admin_user, dsn_outbox, django_capture_on_commit_callbacks
):
    _flow_with_logs(make_flow, admin_user, django_capture_on_commit_callbacks)
    original = Delivery.objects.get()
    assert original.status == "sent" and len(dsn_outbox) == 1
    with django_capture_on_commit_callbacks(execute=True):
        response = su.post("/admin/dsn_core/delivery/", {"action": "resend", ACTION_CHECKBOX_NAME: [original.pk]})
    assert "1 delivery queued to be sent again." in flash(response)
    assert Delivery.objects.count() == 2
    again = Delivery.objects.exclude(pk=original.pk).get()
    assert again.status == "sent" and again.address == original.address and again.backend_id == original.backend_id
    assert (again.resend_of_id, again.notification_id) == (original.pk, original.notification_id)
    assert Notification.objects.count() == 1  # the same event, sent twice
    assert Delivery.objects.get(pk=original.pk).provider_id == "locmem-1"
    assert [m.text for m in dsn_outbox] == ["post_save: Hello", "post_save: Hello"]
    # fan-out run again (the sweeper may) still makes nothing twice, resends notwithstanding
    assert fan_out(original.notification_id) == 0 and Delivery.objects.count() == 2
    with django_capture_on_commit_callbacks(execute=True):  # the original may be resent again
        su.post("/admin/dsn_core/delivery/", {"action": "resend", ACTION_CHECKBOX_NAME: [original.pk]})
    assert sorted(original.resends.values_list("status", flat=True)) == ["sent", "sent"]
    pending = Delivery.objects.filter(pk=again.pk)
    pending.update(status="pending")
    response = su.post("/admin/dsn_core/delivery/", {"action": "resend", ACTION_CHECKBOX_NAME: [again.pk]})
    assert "1 skipped" in " ".join(flash(response)) and Delivery.objects.count() == 3


def test_changelists_make_a_bounded_number_of_queries(
    su, make_flow, admin_user, django_user_model, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    users = [admin_user] + [django_user_model.objects.create_user(f"u{i}") for i in range(24)]
    sub = make_flow(Article, users=users)
    with django_capture_on_commit_callbacks(execute=True):
        for i in range(4):
            Article.objects.create(title=f"a{i}")
    assert Delivery.objects.count() == 100 and Notification.objects.count() == 4
    for i in range(20):
        extra = Subscription.objects.create(trigger=sub.trigger, name=f"s{i}")
        extra.backends.set(sub.backends.all())
    for name in ("delivery", "notification", "subscription"):
        with django_assert_max_num_queries(12):  # measured: 8, 9 and 8, whatever the number of rows
            assert su.get(f"/admin/dsn_core/{name}/").status_code == 200
