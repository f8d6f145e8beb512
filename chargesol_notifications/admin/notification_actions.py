"""The notification list's actions: resend failed notifications, requeue stuck ones,
cancel scheduled ones.

Each asks for confirmation first (a page that says how many of the selected rows the
action will touch and how many it will leave alone), then reports what it did. Each is
gated by a permission of its own (``resend_notification``, ``requeue_notification``,
``cancel_notification``): a staff member who may only view sees no actions at all.

An action touches at most ``MAX_ROWS`` notifications: "select all" on a list of a
million would otherwise put a million ids into the confirmation form.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..choices import NotificationStatus
from ..models import Notification
from ..resending import requeue, resend
from ..scheduling import cancel_notifications

#: What the cancel action touches: the notifications scheduled and not sent yet.
SCHEDULED = Q(status=NotificationStatus.QUEUED, scheduled_for__isnull=False)

MAX_ROWS = 1000

CONFIRMATION_TEMPLATE = "admin/chargesol_notifications/notification/action_confirmation.html"


class NotificationActionsMixin:
    """Adds ``resend_failed``, ``requeue_stuck`` and ``cancel_scheduled`` to a
    Notification ModelAdmin."""

    actions = ["resend_failed", "requeue_stuck", "cancel_scheduled"]

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("chargesol_notifications.resend_notification")

    def has_requeue_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("chargesol_notifications.requeue_notification")

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("chargesol_notifications.cancel_notification")

    @admin.action(permissions=["resend"], description=_("Resend selected failed notifications"))
    def resend_failed(
        self, request: HttpRequest, queryset: QuerySet[Notification]
    ) -> TemplateResponse | None:
        def done(rows: Sequence[Notification]) -> str:
            copies = resend(rows)
            return ngettext(
                "Resent %(count)d failed notification; it is queued for delivery.",
                "Resent %(count)d failed notifications; they are queued for delivery.",
                len(copies),
            ) % {"count": len(copies)}

        return self.confirm_then_run(
            request,
            queryset,
            action="resend_failed",
            touches=NotificationStatus.FAILED,
            title=_("Resend failed notifications"),
            explanation=_(
                "Each failed notification is sent again as a new notification, to the "
                "recipient's current address, with the same template, text and context. "
                "The failed one stays as it is, linked to its resend."
            ),
            run=done,
        )

    @admin.action(
        permissions=["requeue"], description=_("Requeue selected notifications stuck in queued")
    )
    def requeue_stuck(
        self, request: HttpRequest, queryset: QuerySet[Notification]
    ) -> TemplateResponse | None:
        def done(rows: Sequence[Notification]) -> str:
            queued = requeue(rows)
            return ngettext(
                "Requeued %(count)d notification for delivery.",
                "Requeued %(count)d notifications for delivery.",
                len(queued),
            ) % {"count": len(queued)}

        return self.confirm_then_run(
            request,
            queryset,
            action="requeue_stuck",
            touches=NotificationStatus.QUEUED,
            title=_("Requeue notifications stuck in queued"),
            explanation=_(
                "Each queued notification is handed to the delivery workers again. One "
                "already being delivered is still sent only once."
            ),
            run=done,
        )

    @admin.action(permissions=["cancel"], description=_("Cancel selected scheduled notifications"))
    def cancel_scheduled(
        self, request: HttpRequest, queryset: QuerySet[Notification]
    ) -> TemplateResponse | None:
        def done(rows: Sequence[Notification]) -> str:
            cancelled = cancel_notifications(
                Notification.objects.filter(SCHEDULED, pk__in=[row.pk for row in rows])
            )
            return ngettext(
                "Cancelled %(count)d scheduled notification; it will not be sent.",
                "Cancelled %(count)d scheduled notifications; they will not be sent.",
                cancelled,
            ) % {"count": cancelled}

        return self.confirm_then_run(
            request,
            queryset,
            action="cancel_scheduled",
            touches=NotificationStatus.QUEUED,
            only=SCHEDULED,
            touches_label=_("scheduled"),
            title=_("Cancel scheduled notifications"),
            explanation=_(
                "Each scheduled notification that has not been sent yet is deleted and "
                "will not be sent. One being sent at this moment is sent and left alone."
            ),
            run=done,
        )

    def confirm_then_run(
        self,
        request: HttpRequest,
        queryset: QuerySet[Notification],
        *,
        action: str,
        touches: str,
        title: Any,
        explanation: Any,
        run: Callable[[Sequence[Notification]], str],
        only: Q | None = None,
        touches_label: Any = None,
    ) -> TemplateResponse | None:
        """Show the confirmation page; on "yes", run the action and report.

        The action touches the selected rows in status ``touches`` (and matching
        ``only``, when given, which ``touches_label`` then names).
        """
        label = touches_label or NotificationStatus(touches).label.lower()
        selected = list(queryset.order_by().values_list("pk", "status")[: MAX_ROWS + 1])
        if len(selected) > MAX_ROWS:
            self.message_user(  # type: ignore[attr-defined]
                request,
                _("Select at most %(max)d notifications for one action.") % {"max": MAX_ROWS},
                messages.ERROR,
            )
            return None
        matching = [pk for pk, status in selected if status == touches]
        if only is not None and matching:
            matching = list(
                Notification.objects.filter(only, pk__in=matching).values_list("pk", flat=True)
            )
        if request.POST.get("confirm") == "yes":
            rows = list(Notification.objects.filter(pk__in=matching, status=touches))
            self.message_user(request, run(rows), messages.SUCCESS)  # type: ignore[attr-defined]
            skipped = len(selected) - len(rows)
            if skipped:
                self.message_user(  # type: ignore[attr-defined]
                    request,
                    ngettext(
                        "%(count)d selected notification was not %(status)s and was left alone.",
                        "%(count)d selected notifications were not %(status)s and were left alone.",
                        skipped,
                    )
                    % {"count": skipped, "status": label},
                    messages.WARNING,
                )
            return None
        opts = self.model._meta  # type: ignore[attr-defined]
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "title": title,
            "explanation": explanation,
            "opts": opts,
            "action": action,
            "selected_ids": [pk for pk, _status in selected],
            "matching_count": len(matching),
            "skipped_count": len(selected) - len(matching),
            "touches": label,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,  # type: ignore[attr-defined]
        }
        request.current_app = self.admin_site.name  # type: ignore[attr-defined]
        return TemplateResponse(request, CONFIRMATION_TEMPLATE, context)
