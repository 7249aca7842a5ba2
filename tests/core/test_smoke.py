import pytest

from dsn_core.models import Delivery, Notification
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db


def test_post_save_reaches_locmem(make_flow, admin_user, dsn_outbox, dsn_flush, django_capture_on_commit_callbacks):
    make_flow(Article, users=[admin_user])
    with django_capture_on_commit_callbacks(execute=True):
        Article.objects.create(title="Hello")
    assert Notification.objects.count() == 1
    assert [m.text for m in dsn_outbox] == ["post_save: Hello"]
    assert Delivery.objects.get().status == "sent"
