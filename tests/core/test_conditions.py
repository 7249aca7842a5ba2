"""Trigger conditions: every operator, through real saves, and every validation error."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError

from dsn_core import index
from dsn_core.conditions import compile_conditions, validate_conditions
from dsn_core.models import Notification, Trigger
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db


def _fired(make_flow: Any, conditions: list[dict[str, Any]], action: Any) -> int:
    """Create a post_save flow on Article with ``conditions``, run ``action``, count notifications."""
    make_flow(Article, conditions=conditions)
    action()
    return Notification.objects.count()


def _update(article: Article, **values: Any) -> None:
    for name, value in values.items():
        setattr(article, name, value)
    article.save()


# -- every operator, true and false -------------------------------------------------------


def test_created_true(make_flow: Any) -> None:
    make_flow(Article, conditions=[{"op": "created"}])
    article = Article.objects.create(title="new")
    assert Notification.objects.count() == 1
    _update(article, title="edited")
    assert Notification.objects.count() == 1


def test_created_false(make_flow: Any) -> None:
    make_flow(Article, conditions=[{"op": "created", "value": False}])
    article = Article.objects.create(title="new")
    assert Notification.objects.count() == 0
    _update(article, title="edited")
    assert Notification.objects.count() == 1


@pytest.mark.parametrize(("status", "fires"), [("paid", 1), ("draft", 0)])
def test_eq(make_flow: Any, status: str, fires: int) -> None:
    assert (
        _fired(
            make_flow,
            [{"field": "status", "op": "eq", "value": "paid"}],
            lambda: Article.objects.create(title="a", status=status),
        )
        == fires
    )


@pytest.mark.parametrize(("status", "fires"), [("paid", 0), ("draft", 1)])
def test_ne(make_flow: Any, status: str, fires: int) -> None:
    assert (
        _fired(
            make_flow,
            [{"field": "status", "op": "ne", "value": "paid"}],
            lambda: Article.objects.create(title="a", status=status),
        )
        == fires
    )


@pytest.mark.parametrize(("status", "fires"), [("paid", 1), ("shipped", 1), ("draft", 0)])
def test_in(make_flow: Any, status: str, fires: int) -> None:
    assert (
        _fired(
            make_flow,
            [{"field": "status", "op": "in", "value": ["paid", "shipped"]}],
            lambda: Article.objects.create(title="a", status=status),
        )
        == fires
    )


@pytest.mark.parametrize(("note", "fires"), [("", 1), ("something", 0)])
def test_empty(make_flow: Any, note: str, fires: int) -> None:
    assert (
        _fired(make_flow, [{"field": "note", "op": "empty"}], lambda: Article.objects.create(title="a", note=note))
        == fires
    )


@pytest.mark.parametrize(("note", "fires"), [("", 0), ("something", 1)])
def test_not_empty(make_flow: Any, note: str, fires: int) -> None:
    assert (
        _fired(make_flow, [{"field": "note", "op": "not_empty"}], lambda: Article.objects.create(title="a", note=note))
        == fires
    )


def test_empty_foreign_key(make_flow: Any, admin_user: Any) -> None:
    make_flow(Article, conditions=[{"field": "owner", "op": "empty"}])
    Article.objects.create(title="owned", owner=admin_user)
    assert Notification.objects.count() == 0
    Article.objects.create(title="orphan")
    assert Notification.objects.count() == 1


def test_eq_on_a_foreign_key_takes_the_id(make_flow: Any, admin_user: Any) -> None:
    make_flow(Article, conditions=[{"field": "owner", "op": "eq", "value": str(admin_user.pk)}])
    Article.objects.create(title="orphan")
    assert Notification.objects.count() == 0
    Article.objects.create(title="owned", owner=admin_user)
    assert Notification.objects.count() == 1


def test_eq_on_a_decimal(make_flow: Any) -> None:
    make_flow(Article, conditions=[{"field": "price", "op": "eq", "value": "9.90"}])
    Article.objects.create(title="cheap", price=Decimal("9.9"))
    Article.objects.create(title="dear", price=Decimal("10"))
    assert [n.context["action_object"]["fields"]["title"] for n in Notification.objects.all()] == ["cheap"]


def test_eq_on_a_decimal_assigned_as_text(make_flow: Any) -> None:
    """``Article.objects.create(price="9.90")`` stores 9.90; the condition should see 9.90 too."""
    make_flow(Article, conditions=[{"field": "price", "op": "eq", "value": "9.90"}])
    Article.objects.create(title="from a form", price="9.90")
    assert Notification.objects.count() == 1


def test_eq_on_a_foreign_key_assigned_as_text(make_flow: Any, admin_user: Any) -> None:
    make_flow(Article, conditions=[{"field": "owner", "op": "eq", "value": admin_user.pk}])
    Article.objects.create(title="owned", owner_id=str(admin_user.pk))
    assert Notification.objects.count() == 1


def test_unconvertible_value_does_not_match_or_crash(make_flow: Any) -> None:
    """A value the field cannot read (the save itself would fail) simply does not match."""
    make_flow(Article, conditions=[{"field": "price", "op": "eq", "value": "1.00"}])
    article = Article(title="odd", price="1.00")
    article.save()
    article.price = "1,00"  # not a decimal: compare as assigned, no exception in the hot path
    (condition,) = compile_conditions([{"field": "price", "op": "eq", "value": "1.00"}], Article, "post_save")
    assert condition.holds(article, {}, None) is False
    assert Notification.objects.count() == 1


def test_changed(make_flow: Any) -> None:
    make_flow(Article, conditions=[{"field": "status", "op": "changed"}])
    article = Article.objects.create(title="a")
    assert Notification.objects.count() == 0  # a new row changed from nothing
    _update(article, title="b")
    assert Notification.objects.count() == 0
    _update(article, status="paid")
    assert Notification.objects.count() == 1
    _update(article, status="paid")  # same value saved again
    assert Notification.objects.count() == 1


def test_changed_from_to(make_flow: Any) -> None:
    make_flow(Article, conditions=[{"field": "status", "op": "changed_from_to", "from": "draft", "to": "paid"}])
    article = Article.objects.create(title="a")
    _update(article, status="shipped")  # draft -> shipped: wrong "to"
    _update(article, status="paid")  # shipped -> paid: wrong "from"
    assert Notification.objects.count() == 0
    _update(article, status="draft")
    _update(article, status="paid")  # draft -> paid
    assert Notification.objects.count() == 1


def test_changed_to_only(make_flow: Any) -> None:
    make_flow(Article, conditions=[{"field": "status", "op": "changed_from_to", "to": "paid"}])
    article = Article.objects.create(title="a", status="paid")
    assert Notification.objects.count() == 0  # created paid: not a change
    _update(article, status="draft")
    _update(article, status="paid")
    assert Notification.objects.count() == 1


def test_changed_from_only(make_flow: Any) -> None:
    make_flow(Article, conditions=[{"field": "status", "op": "changed_from_to", "from": "draft"}])
    article = Article.objects.create(title="a")
    _update(article, title="retitled")
    assert Notification.objects.count() == 0
    _update(article, status="shipped")
    assert Notification.objects.count() == 1
    _update(article, status="paid")  # from shipped now
    assert Notification.objects.count() == 1


def test_changed_on_pre_save(make_flow: Any) -> None:
    make_flow(Article, verb="pre_save", conditions=[{"field": "status", "op": "changed"}])
    article = Article.objects.create(title="a")
    _update(article, status="paid")
    assert Notification.objects.count() == 1


def test_changed_decimal_saved_unchanged(make_flow: Any) -> None:
    make_flow(Article, conditions=[{"field": "price", "op": "changed"}])
    article = Article.objects.create(title="a", price=Decimal("5.00"))
    _update(article, price=Decimal("5"))  # the same amount
    assert Notification.objects.count() == 0
    _update(article, price=Decimal("6"))
    assert Notification.objects.count() == 1


def test_changed_ignores_the_same_value_assigned_as_text(make_flow: Any) -> None:
    """A form or API assigning "5.00" to a 5.00 price did not change it."""
    make_flow(Article, conditions=[{"field": "price", "op": "changed"}])
    article = Article.objects.create(title="a", price=Decimal("5.00"))
    _update(article, price="5.00")
    assert Notification.objects.count() == 0


def test_all_conditions_must_hold(make_flow: Any) -> None:
    make_flow(Article, conditions=[{"op": "created"}, {"field": "status", "op": "eq", "value": "paid"}])
    Article.objects.create(title="a", status="draft")
    article = Article.objects.create(title="b", status="paid")
    _update(article, title="c")
    assert [n.context["action_object"]["fields"]["title"] for n in Notification.objects.all()] == ["b"]


def test_previous_values_are_read_once_per_save(make_flow: Any, django_assert_num_queries: Any) -> None:
    """Two triggers with change conditions on one model share the single SELECT."""
    make_flow(Article, conditions=[{"field": "status", "op": "changed"}])
    make_flow(Article, conditions=[{"field": "title", "op": "changed"}])
    article = Article.objects.create(title="a")
    article.status, article.title = "paid", "b"
    # SELECT previous, UPDATE, then (inside the test's transaction) SAVEPOINT, INSERT x2, RELEASE
    with django_assert_num_queries(5):
        article.save()
    assert Notification.objects.count() == 2


# -- validation ---------------------------------------------------------------------------


def _errors(raw: Any, model: Any = Article, verb: str = "post_save") -> str:
    with pytest.raises(ValidationError) as info:
        compile_conditions(raw, model, verb)
    return " | ".join(info.value.messages)


def test_unknown_field_names_the_fields() -> None:
    message = _errors([{"field": "colour", "op": "eq", "value": "red"}])
    assert "condition 1" in message and "'colour'" in message and "status" in message


def test_unknown_op_lists_the_ops() -> None:
    message = _errors([{"field": "status", "op": "like", "value": "p%"}])
    assert "'like'" in message and "changed_from_to" in message


def test_bad_decimal_value() -> None:
    message = _errors([{"field": "price", "op": "eq", "value": "cheap"}])
    assert "'cheap'" in message and "price" in message


def test_bad_value_inside_in_list() -> None:
    assert "'x'" in _errors([{"field": "price", "op": "in", "value": ["1.00", "x"]}])


def test_bad_from_value() -> None:
    assert "'nope'" in _errors([{"field": "price", "op": "changed_from_to", "from": "nope"}])


def test_created_needs_post_save() -> None:
    assert "post_save" in _errors([{"op": "created"}], verb="post_delete")


def test_created_takes_a_boolean() -> None:
    assert "true or false" in _errors([{"op": "created", "value": "yes"}])


def test_field_conditions_need_a_model() -> None:
    message = _errors([{"field": "status", "op": "eq", "value": "paid"}], model=None)
    assert "model" in message


def test_changed_needs_a_save_verb() -> None:
    assert "pre_save and post_save" in _errors([{"field": "status", "op": "changed"}], verb="post_delete")


def test_missing_value_and_bad_shapes() -> None:
    assert 'needs a "value"' in _errors([{"field": "status", "op": "eq"}])
    assert "non-empty list" in _errors([{"field": "status", "op": "in", "value": []}])
    assert 'needs "from", "to"' in _errors([{"field": "status", "op": "changed_from_to"}])
    assert "unknown key" in _errors([{"field": "status", "op": "eq", "value": "x", "vlaue": "y"}])
    assert "JSON list" in _errors({"field": "status"})
    assert "must be an object" in _errors(["status == paid"])


def test_many_to_many_is_not_a_condition_field() -> None:
    from tests.testapp.models import Team

    assert "plain column" in _errors([{"field": "members", "op": "empty"}], model=Team)


def test_every_bad_item_is_reported() -> None:
    message = _errors(
        [{"field": "colour", "op": "eq", "value": 1}, {"op": "created"}, {"field": "price", "op": "eq", "value": "x"}]
    )
    assert "condition 1" in message and "condition 3" in message and "condition 2" not in message


def test_validate_conditions_returns_a_list() -> None:
    assert validate_conditions(None, Article) == []
    raw = [{"field": "status", "op": "eq", "value": "paid"}]
    assert validate_conditions(raw, Article) == raw


def test_trigger_full_clean_reports_conditions() -> None:
    trigger = Trigger(
        name="bad",
        verb="post_save",
        action_object_type=ContentType.objects.get_for_model(Article),
        conditions=[{"field": "colour", "op": "eq", "value": "red"}, {"field": "price", "op": "eq", "value": "cheap"}],
    )
    with pytest.raises(ValidationError) as info:
        trigger.full_clean()
    errors = info.value.message_dict
    assert set(errors) == {"conditions"}
    assert len(errors["conditions"]) == 2
    assert "'colour'" in errors["conditions"][0] and "'cheap'" in errors["conditions"][1]


def test_trigger_full_clean_without_model() -> None:
    trigger = Trigger(name="bad", verb="post_save", conditions=[{"field": "status", "op": "eq", "value": "x"}])
    with pytest.raises(ValidationError) as info:
        trigger.full_clean()
    assert "conditions" in info.value.message_dict


def test_trigger_full_clean_accepts_good_conditions() -> None:
    trigger = Trigger(
        name="ok",
        verb="post_save",
        action_object_type=ContentType.objects.get_for_model(Article),
        conditions=[{"op": "created"}, {"field": "price", "op": "eq", "value": "1.50"}],
    )
    trigger.full_clean()


def test_bad_stored_conditions_are_a_problem_not_a_crash(make_flow: Any) -> None:
    """Conditions saved around validation (a data migration, the shell) disable just that trigger."""
    make_flow(Article, conditions=[{"field": "colour", "op": "eq", "value": "red"}])
    good = make_flow(Article)
    Article.objects.create(title="a")
    problems = index.current().problems
    assert len(problems) == 1 and "bad conditions" in problems[0] and "'colour'" in problems[0]
    assert list(Notification.objects.values_list("trigger_id", flat=True)) == [good.trigger_id]
