"""Webhook URLs; include them under any prefix, e.g. ``path("notifications/", include(...))``."""

from django.urls import path

from .webhooks.twilio import (
    CallAnswerView,
    CallStatusView,
    InboundMessageView,
    MessageStatusView,
)

app_name = "chargesol_notifications"

urlpatterns = [
    path("twilio/message-status/", MessageStatusView.as_view(), name="twilio-message-status"),
    path("twilio/call-status/", CallStatusView.as_view(), name="twilio-call-status"),
    path("twilio/call-answer/", CallAnswerView.as_view(), name="twilio-call-answer"),
    path("twilio/inbound-message/", InboundMessageView.as_view(), name="twilio-inbound-message"),
]
