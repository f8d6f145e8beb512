from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChargesolNotificationsConfig(AppConfig):
    name = "chargesol_notifications"
    verbose_name = _("Notifications")
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        # Registers the system checks and the setting_changed receivers.
        # escalation: its receiver of escalation_due (the webhooks' failed steps).
        from . import checks, email_tracking, escalation, handlers  # noqa: F401

        # Email delivery reports from django-anymail's webhooks, when it is installed.
        email_tracking.connect()
