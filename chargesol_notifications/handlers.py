"""Every ``setting_changed`` receiver of the app, in one place.

Django sends ``setting_changed`` when ``override_settings`` (or pytest-django's
``settings`` fixture) changes a setting; each receiver here drops a cache built from
settings, so the next use reads the new value. ``AppConfig.ready()`` imports this module.
"""

from __future__ import annotations

from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver

from .backends import backends
from .conf import SETTING_NAME, project_settings
from .rendering import compile_source, get_engine


@receiver(setting_changed)
def forget_project_settings(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTING_NAME:
        project_settings.cache_clear()


@receiver(setting_changed)
def reset_backends(*, setting: str, **kwargs: Any) -> None:
    # Backends hold clients built from their OPTIONS: build them anew on next use. The
    # mail settings too, for a backend that keeps a mail connection built from them.
    if setting in (SETTING_NAME, "EMAIL_BACKEND", "MAILERS"):
        backends.reset()


@receiver(setting_changed)
def reset_template_engine(*, setting: str, **kwargs: Any) -> None:
    # Which libraries {% load %} reaches depends on INSTALLED_APPS (tests change it);
    # compiled templates carry the compile-time limits of RENDER_LIMITS.
    if setting in ("INSTALLED_APPS", SETTING_NAME):
        get_engine.cache_clear()
        compile_source.cache_clear()
