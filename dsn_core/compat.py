"""Django's Tasks API: ``django.tasks`` where it exists (Django 6+), else the backport."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # django-stubs describe django.tasks; both have the same API
    from django.tasks import task, task_backends
    from django.tasks.exceptions import InvalidTaskBackend as InvalidTaskBackendError
else:
    try:  # Django >= 6.0
        from django.tasks import task, task_backends
        from django.tasks.exceptions import InvalidTaskBackend as InvalidTaskBackendError
    except ImportError:  # Django 5.2: the django-tasks backport
        from django_tasks import task, task_backends
        from django_tasks.exceptions import InvalidTaskBackendError

__all__ = ["InvalidTaskBackendError", "task", "task_backends"]
