"""Email delivery reports from django-anymail's ``tracking`` signal.

django-anymail's webhook views check the ESP's signature and turn each ESP's payload into
an ``AnymailTrackingEvent``; this module takes the event from there, the same way for every
ESP: validate → normalise → record.

- **validate**: an event type and a message id that can be an email's gateway id;
- **normalise**: :data:`RECEIPT_STATUS_FOR_EVENT` decides what the event means (a
  receipt status, or nothing worth a record), and the ESP's reason becomes the receipt's
  ``error_code`` and ``error_message``;
- **record**: the email notification whose ``sent`` receipt carries that message id (the
  id :class:`~chargesol_notifications.backends.email.EmailBackend` stored from
  ``message.anymail_status.message_id``) gets the receipt through
  :func:`~chargesol_notifications.status.record_receipt`, so a duplicate writes nothing and
  the status only moves forward. A hard bounce (the mailbox does not exist, or the address
  is not valid) also puts the address on the opt-out list (:mod:`.opt_outs`), so no
  further email goes to it until staff lift the opt-out.

:func:`connect` is called by the app's ``ready()``; it does nothing when django-anymail is
not installed. An event for a message id the app does not know is logged and left alone:
the receiver returns normally, so anymail answers 200 and the ESP does not retry it. Such
events are common, not suspicious (the site's other mail, password resets say, goes
through the same ESP and its webhooks), so they are logged at ``INFO``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import router, transaction

from .choices import Channel, NotificationStatus, OptOutReason, ReceiptStatus
from .models import DeliveryReceipt, Notification
from .opt_outs import record_opt_out
from .signals import notification_failed
from .status import ReceiptOutcome, record_receipt

if TYPE_CHECKING:
    from anymail.signals import AnymailTrackingEvent

logger = logging.getLogger("chargesol_notifications.webhooks.email")

#: What each of anymail's event types (``anymail.signals.EventType``) records: a receipt
#: status, or ``None`` for an event that is acknowledged and recorded nowhere.
#:
#: - ``queued``, ``sent``, ``deferred``: progress before the receiving server answered.
#:   The ``sent`` receipt is the send's own; a deferral is followed by ``delivered`` or
#:   ``bounced``.
#: - ``opened`` and ``clicked`` are both ``read`` (a click is read too, also when the
#:   mail client blocked the open pixel); the second of them is a duplicate. ``read``
#:   implies delivered.
#: - ``complained``, ``unsubscribed``, ``subscribed``, ``autoresponded``: the recipient's
#:   answer to a message that was delivered, not a delivery report; opt-outs are the
#:   business of their own feature, so they are logged only.
#: - ``unknown``: anymail could not tell what the ESP meant.
RECEIPT_STATUS_FOR_EVENT: dict[str, str | None] = {
    "queued": None,
    "sent": None,
    "deferred": None,
    "delivered": ReceiptStatus.DELIVERED,
    "bounced": ReceiptStatus.FAILED,
    "rejected": ReceiptStatus.FAILED,
    "failed": ReceiptStatus.FAILED,
    "opened": ReceiptStatus.READ,
    "clicked": ReceiptStatus.READ,
    "autoresponded": None,
    "complained": None,
    "unsubscribed": None,
    "subscribed": None,
    "unknown": None,
}

#: The longest message id that can be a gateway id (``DeliveryReceipt.gateway_message_id``).
MAX_MESSAGE_ID_LENGTH = DeliveryReceipt._meta.get_field("gateway_message_id").max_length or 100
MAX_ERROR_CODE_LENGTH = DeliveryReceipt._meta.get_field("error_code").max_length or 50
#: ESPs quote whole SMTP conversations at times; staff need the first lines.
MAX_ERROR_MESSAGE_LENGTH = 2000

#: anymail's reject reasons of a ``bounced`` event that say the address itself will never
#: take mail (a hard bounce): the address goes on the opt-out list. A full mailbox or a
#: blocked message (``other``, ``blocked``, ``spam``...) says nothing about the address.
HARD_BOUNCE_REASONS: frozenset[str] = frozenset({"bounced", "invalid"})


@dataclass(frozen=True)
class EmailReport:
    """An ESP's tracking event, in the app's words: the receipt it asks for."""

    esp_name: str
    message_id: str
    event_type: str
    receipt_status: str
    error_code: str | None = None
    error_message: str = ""
    #: Whether the event is a hard bounce (:data:`HARD_BOUNCE_REASONS`).
    hard_bounce: bool = False
    #: The address the event is about, as the ESP reports it ("" when it does not).
    recipient: str = ""


def connect() -> None:
    """Listen to django-anymail's ``tracking`` signal, when django-anymail is installed."""
    try:
        from anymail.signals import tracking
    except ImportError:  # django-anymail is optional
        return
    tracking.connect(record_tracking_event, dispatch_uid=f"{__name__}.record_tracking_event")


def record_tracking_event(
    sender: type, event: AnymailTrackingEvent, esp_name: str = "", **kwargs: Any
) -> ReceiptOutcome | None:
    """The ``tracking`` signal's receiver: record what ``event`` reports, if anything.

    Returns the outcome of recording (``receipt`` is ``None`` for a duplicate), or
    ``None`` when nothing was recorded. An error escaping here (the database) makes
    anymail answer 500, and the ESP sends the event again later.
    """
    report = normalise(event, esp_name or getattr(sender, "esp_name", "") or "The ESP")
    if report is None:
        return None
    return record_report(report)


# -- validate and normalise -------------------------------------------------------------------


def normalise(event: AnymailTrackingEvent, esp_name: str) -> EmailReport | None:
    """The receipt ``event`` asks for, or ``None`` when it asks for none (logged)."""
    event_type = str(getattr(event, "event_type", "") or "")
    message_id = getattr(event, "message_id", None)
    if event_type not in RECEIPT_STATUS_FOR_EVENT:
        logger.info("%s tracking event of unknown type %r; ignored", esp_name, event_type)
        return None
    receipt_status = RECEIPT_STATUS_FOR_EVENT[event_type]
    if receipt_status is None:
        logger.debug("%s %s event for %s; nothing to record", esp_name, event_type, message_id)
        return None
    if not isinstance(message_id, str) or not 0 < len(message_id) <= MAX_MESSAGE_ID_LENGTH:
        # An id that no sent receipt can carry (none, a set for several recipients).
        logger.warning("%s %s event without a usable message id; ignored", esp_name, event_type)
        return None
    if receipt_status != ReceiptStatus.FAILED:
        return EmailReport(esp_name, message_id, event_type, receipt_status)
    return EmailReport(
        esp_name,
        message_id,
        event_type,
        receipt_status,
        error_code=failure_code(event),
        error_message=failure_message(event, esp_name),
        hard_bounce=event_type == "bounced"
        and getattr(event, "reject_reason", None) in HARD_BOUNCE_REASONS,
        recipient=str(getattr(event, "recipient", None) or ""),
    )


def failure_code(event: AnymailTrackingEvent) -> str:
    """``email_`` and anymail's normalised reject reason (``email_bounced``,
    ``email_blocked``, ``email_spam``...), else the event type (``email_failed``).

    Prefixed: the codes share a column with Twilio's numbers and the app's own codes, and
    ``invalid`` alone would read as the app's ``invalid_email``.
    """
    reason = str(getattr(event, "reject_reason", None) or event.event_type)
    return f"email_{reason}"[:MAX_ERROR_CODE_LENGTH]


def failure_message(event: AnymailTrackingEvent, esp_name: str) -> str:
    """Who reported what, and the ESP's own words: ``Mailgun reported bounced (reason:
    bounced): 5.1.1 The email account that you tried to reach does not exist.``"""
    head = f"{esp_name} reported {event.event_type}"
    reason = getattr(event, "reject_reason", None)
    if reason and reason != event.event_type:
        head += f" (reason: {reason})"
    details: list[str] = []
    for part in (getattr(event, "description", None), getattr(event, "mta_response", None)):
        text = str(part or "").strip()
        if text and text not in details:
            details.append(text)
    message = f"{head}: {'; '.join(details)}" if details else head
    return message[:MAX_ERROR_MESSAGE_LENGTH]


# -- record -----------------------------------------------------------------------------------


def email_notification_for(message_id: str) -> Notification | None:
    """The email notification whose ``sent`` receipt carries ``message_id``: one query."""
    return (
        Notification.objects.filter(
            channel=Channel.EMAIL,
            receipts__status=ReceiptStatus.SENT,
            receipts__gateway_message_id=message_id,
        )
        .order_by()
        .first()
    )


def record_report(report: EmailReport) -> ReceiptOutcome | None:
    """Write ``report``'s receipt on its notification and move the status forward.

    The receipt, the status, the opt-out of a hard bounce and ``notification_failed``
    (when the report failed the notification) go together in one transaction, as in the
    app's own webhooks. ``None`` when the message id belongs to no email notification.
    """
    notification = email_notification_for(report.message_id)
    if notification is None:
        logger.info(
            "%s %s event for unknown message %s; recorded nowhere",
            report.esp_name,
            report.event_type,
            report.message_id,
        )
        return None
    with transaction.atomic(using=router.db_for_write(DeliveryReceipt)):
        outcome = record_receipt(
            notification,
            report.receipt_status,
            gateway_message_id=report.message_id,
            error_code=report.error_code,
            error_message=report.error_message,
        )
        if report.hard_bounce and outcome.receipt is not None:
            record_bounce(notification, report)
        if outcome.advanced and notification.status == NotificationStatus.FAILED:
            notification_failed.send(
                sender=Notification, notification=notification, receipt=outcome.receipt, error=None
            )
    if outcome.receipt is None:
        logger.debug(
            "Duplicate %s %s event for %s", report.esp_name, report.event_type, report.message_id
        )
    return outcome


def record_bounce(notification: Notification, report: EmailReport) -> None:
    """Put the address of a hard-bounced email on the opt-out list: the address the
    notification went to, else the one the ESP names (a notification sent before the
    address was recorded)."""
    address = notification.address or report.recipient
    if not address:
        logger.warning(
            "%s hard bounce of %s names no address; no opt-out recorded",
            report.esp_name,
            report.message_id,
        )
        return
    record_opt_out(
        Channel.EMAIL,
        address,
        OptOutReason.EMAIL_BOUNCE,
        detail=f"Notification {notification.pk}: {report.error_message}",
    )
