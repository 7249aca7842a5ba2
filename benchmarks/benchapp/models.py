"""Models the benchmarks save: ``Item`` is the model under test, the others carry the
triggers that must *not* match, and ``EventRow`` is what the bare one-INSERT receiver writes.
"""

from django.conf import settings
from django.db import models


class Item(models.Model):
    """A typical small row saved inside a request."""

    title = models.CharField(max_length=200)
    status = models.CharField(max_length=20, default="new")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.title


class Tag(models.Model):
    name = models.CharField(max_length=50)


class Category(models.Model):
    name = models.CharField(max_length=50)


class Comment(models.Model):
    body = models.TextField()


class Invoice(models.Model):
    number = models.CharField(max_length=20)
    paid = models.BooleanField(default=False)


class EventRow(models.Model):
    """One row per event: the physical limit of "do something durable per save"."""

    verb = models.CharField(max_length=50)
    object_id = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
