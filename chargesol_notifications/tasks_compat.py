"""Django's tasks framework: ``django.tasks`` on Django 6.0+, the ``django-tasks`` backport
on Django 5.2. Everything else imports it from here."""

from __future__ import annotations

try:
    from django.tasks import TaskContext, task, task_backends
    from django.tasks.exceptions import InvalidTaskBackend as InvalidTaskBackendError
except ImportError:  # Django 5.2: the backport, whose names differ slightly.
    from django_tasks import TaskContext, task, task_backends  # type: ignore[no-redef]
    from django_tasks.exceptions import InvalidTaskBackendError  # type: ignore[no-redef]

__all__ = [
    "InvalidTaskBackendError",
    "TaskContext",
    "queue_database",
    "task",
    "task_backends",
]


def queue_database(backend: object) -> str | None:
    """The database alias ``backend`` writes its tasks to, when it is django-tasks-db's
    (which enqueues a task by inserting a row); None for any other backend."""
    try:
        from django_tasks_db.backend import DatabaseBackend
    except ImportError:
        return None
    if not isinstance(backend, DatabaseBackend):
        return None
    # Only now: its models load only where the app is installed, which it is when
    # its backend is configured (the backend's own check says so otherwise).
    from django.db import router
    from django_tasks_db.models import DBTaskResult

    return router.db_for_write(DBTaskResult)
