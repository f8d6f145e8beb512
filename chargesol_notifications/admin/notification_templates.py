"""Notification templates in the admin: staff edit them, so they are checked like input."""

from __future__ import annotations

from django.contrib import admin

from ..forms import NotificationTemplateForm
from ..models import NotificationTemplate


@admin.register(NotificationTemplate)
class NotificationTemplateAdmin(admin.ModelAdmin):
    form = NotificationTemplateForm
    list_display = ("name", "channel", "is_active")
    list_filter = ("channel", "is_active")
    search_fields = ("name", "subject_template", "body_template")
