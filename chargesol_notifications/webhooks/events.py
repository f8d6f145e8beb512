"""What a gateway's callback means, in the app's words rather than the provider's.

A provider module's :meth:`~chargesol_notifications.webhooks.base.WebhookView.parse` turns
one request into a list of these events; the core (:mod:`.recording`) applies them to the
database and sends the signals, the same way for every provider. Each value here is one
of the app's own choices (``ReceiptStatus``, ``CallOutcome``), never a provider's status
word, except :attr:`CallLogEvent.gateway_status`, which is passed on to receivers of
``call_status_recorded`` as it came.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class DeliveryEvent:
    """The gateway's word on a message (or spoken call) it accepted: one receipt.

    ``notification_id`` comes from the callback URL when the provider put it there; without
    it the notification is found by ``gateway_message_id``. ``error_code`` and
    ``error_message`` describe a ``failed`` receipt for staff.
    """

    gateway_message_id: str
    receipt_status: str
    notification_id: uuid.UUID | None = None
    error_code: str | None = None
    error_message: str = ""


@dataclass(frozen=True)
class CallLogEvent:
    """The gateway's word on a click-to-call: what it adds to the call's ``CallLog``.

    ``outcome`` is a ``CallOutcome`` value, or ``""`` when this callback does not decide
    it; ``note`` is a line for the call's notes (why it did not connect), or ``""``.
    ``gateway_status`` is the provider's own status word, for signal receivers.
    """

    call_log_id: uuid.UUID
    gateway_status: str
    outcome: str = ""
    duration_seconds: int | None = None
    note: str = ""


@dataclass(frozen=True)
class CallAnsweredEvent:
    """A click-to-call was picked up, and the gateway asks whether to connect the caller.

    ``call_log_id`` is ``None`` when the request did not say which call it is about.
    """

    call_log_id: uuid.UUID | None
    by_machine: bool


#: Every kind of event the core knows how to record.
WebhookEvent = DeliveryEvent | CallLogEvent | CallAnsweredEvent
