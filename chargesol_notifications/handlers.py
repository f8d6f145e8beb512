"""Receivers that keep cached state in step with settings."""

from __future__ import annotations

from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver

from .backends import backends
from .conf import SETTING_NAME


@receiver(setting_changed)
def reset_backends(*, setting: str, **kwargs: Any) -> None:
    # Backends hold clients built from their OPTIONS; rebuild them on the next use.
    if setting in (SETTING_NAME, "TASKS", "EMAIL_BACKEND", "DEBUG"):
        backends.reset()
