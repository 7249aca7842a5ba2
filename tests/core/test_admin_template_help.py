"""Template help and the preview: variables for the template's triggers, and a preview that
only ever reads rows of models the user may view."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.test import Client

from tests.testapp.models import Article

pytestmark = pytest.mark.django_db


def test_the_template_form_lists_its_triggers_model_fields(client: Client, admin_user: Any, make_flow: Any) -> None:
    template = make_flow(Article).backends.get().template
    client.force_login(admin_user)
    html = client.get(f"/admin/dsn_core/messagetemplate/{template.pk}/change/").content.decode()
    assert 'data-insert="{{ instance.title }}"' in html and 'data-insert="{{ recipient }}"' in html
    assert "The article (instance)" in html


def _viewer(django_user_model: Any, *perms: tuple[str, str]) -> Client:
    user = django_user_model.objects.create_user("viewer", "v@example.com", "pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_messagetemplate"))
    for app_label, codename in perms:
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    client = Client()
    client.force_login(user)
    return client


def test_the_preview_never_reads_a_model_the_user_may_not_view(
    django_user_model: Any, admin_user: Any, make_flow: Any
) -> None:
    template = make_flow(Article).backends.get().template
    template.text = "{{ instance }} {{ instance.email }} {{ instance.password }}"
    template.save()
    viewer = _viewer(django_user_model)
    url = f"/admin/dsn_core/messagetemplate/{template.pk}/preview/"
    user_ct = ContentType.objects.get(app_label="auth", model="user")
    response = viewer.get(url, {"verb": "post_save", "content_type": user_ct.pk, "object_id": admin_user.pk})
    assert response.status_code == 200
    assert "content_type" in response.context["form"].errors
    assert response.context["rendered"] is None
    body = response.content.decode()
    assert admin_user.email not in body and "pbkdf2" not in body
    offered = list(response.context["form"].fields["content_type"].queryset)
    assert offered == []  # no view permission on any model


def test_the_preview_uses_the_most_recent_object_the_user_may_view_and_says_so(
    django_user_model: Any, make_flow: Any
) -> None:
    template = make_flow(Article).backends.get().template
    template.text = "About {{ instance.title }}"
    template.save()
    viewer = _viewer(django_user_model, ("testapp", "view_article"))
    url = f"/admin/dsn_core/messagetemplate/{template.pk}/preview/"
    empty = viewer.get(url)  # the template's trigger is about articles: that model, the newest row
    assert "There is no article yet" in empty.content.decode()
    Article.objects.create(title="Old")
    Article.objects.create(title="New")
    response = viewer.get(url)
    assert response.context["rendered"][1] == "About New"
    assert "Rendered with the most recent article: New" in response.content.decode()
    offered = list(response.context["form"].fields["content_type"].queryset)
    assert offered == [ContentType.objects.get_for_model(Article)]


def test_a_test_send_never_reads_a_model_the_user_may_not_view(
    django_user_model: Any, admin_user: Any, make_flow: Any, dsn_outbox: Any
) -> None:
    backend = make_flow(Article).backends.get()
    template = backend.template
    template.text = "{{ instance.email }}"
    template.save()
    user = django_user_model.objects.create_user("editor", "e@example.com", "pw", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_messagetemplate", "change_messagetemplate"])
    )
    client = Client()
    client.force_login(user)
    user_ct = ContentType.objects.get(app_label="auth", model="user")
    response = client.post(
        f"/admin/dsn_core/messagetemplate/{template.pk}/send-test/",
        {"verb": "post_save", "backend": backend.pk, "content_type": user_ct.pk, "object_id": admin_user.pk},
        follow=True,
    )
    assert dsn_outbox == []
    assert any("Nothing sent: Object model: Select a valid choice" in str(m) for m in response.context["messages"])
