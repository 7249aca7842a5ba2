"""Models the tests fire signals on."""

from django.conf import settings
from django.db import models


class Team(models.Model):
    name = models.CharField(max_length=100)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="teams")

    def __str__(self) -> str:
        return self.name


class Article(models.Model):
    title = models.CharField(max_length=200)
    status = models.CharField(max_length=20, default="draft")
    note = models.TextField(blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL)
    price = models.DecimalField(max_digits=8, decimal_places=2, default=0)

    def __str__(self) -> str:
        return self.title


class Comment(models.Model):
    article = models.ForeignKey(Article, on_delete=models.CASCADE)
    body = models.TextField()


class ApiAccount(models.Model):
    """A model holding secrets under many names, for the template-secrets tests."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_accounts")
    name = models.CharField(max_length=100)
    api_key = models.CharField(max_length=100, blank=True)
    otp_secret = models.CharField(max_length=100, blank=True)
    auth_token = models.CharField(max_length=100, blank=True)
    pw_hash = models.CharField(max_length=100, blank=True)
    extra_data = models.JSONField(default=dict, blank=True)
    active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.name

    def deactivate(self) -> None:
        """Writes: templates must never reach it."""
        self.active = False
        self.save(update_fields=["active"])

    deactivate.alters_data = True  # type: ignore[attr-defined]

    def greeting(self) -> str:
        return f"hello from {self.name}"
