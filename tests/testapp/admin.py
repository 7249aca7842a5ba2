"""The test models in the admin, so browser tests can save an object as an admin would."""

from django.contrib import admin

from .models import Article, Team

admin.site.register(Article)
admin.site.register(Team, search_fields=["name"])
