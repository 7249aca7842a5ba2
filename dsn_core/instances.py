"""Model instances from database rows, without ``Model.__init__``'s per-field work.

Building thousands of instances is a large part of a claim and of a fan-out in Python: Django's
``Model.from_db`` calls ``__init__``, which walks every field. :func:`from_rows` makes the same
instances directly when nothing can observe the difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import Model
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init


def from_rows(model: Any, using: str, attnames: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[Any]:
    """Instances of ``model`` loaded from the database ``using``, one per row of values (already
    converted to Python, e.g. by ``values_list``) for the fields ``attnames``, in the model's
    field order.

    What ``Model.from_db`` makes: fields not in ``attnames`` are deferred (loaded on first
    access), ``_state`` says the row exists in ``using``. A model with its own ``__init__`` or
    ``from_db``, or with ``pre_init``/``post_init`` receivers, is built by ``from_db`` itself.
    """
    if (
        model.__init__ is not Model.__init__
        or getattr(model.from_db, "__func__", None) is not getattr(Model.from_db, "__func__", None)
        or pre_init.has_listeners(model)
        or post_init.has_listeners(model)
    ):
        return [model.from_db(using, list(attnames), row) for row in rows]
    out = []
    new = object.__new__
    names = tuple(attnames)
    for row in rows:
        instance = new(model)
        state = ModelState()
        state.adding, state.db = False, using
        fields = instance.__dict__
        fields["_state"] = state
        fields.update(zip(names, row, strict=True))
        out.append(instance)
    return out
