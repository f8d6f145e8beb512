"""Django's tasks framework: ``django.tasks`` on Django 6.0+, the ``django-tasks`` backport
on Django 5.2. Everything else imports it from here."""

from __future__ import annotations

try:
    from django.tasks import TaskContext, task, task_backends
    from django.tasks.exceptions import InvalidTaskBackend as InvalidTaskBackendError
except ImportError:  # Django 5.2: the backport, whose names differ slightly.
    from django_tasks import TaskContext, task, task_backends  # type: ignore[no-redef]
    from django_tasks.exceptions import InvalidTaskBackendError  # type: ignore[no-redef]

__all__ = ["InvalidTaskBackendError", "TaskContext", "task", "task_backends"]
