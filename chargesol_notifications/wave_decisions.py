"""What one attempt of a wave's message means: the receipts to write, the outcome, the
signals, and what follows it (a retry, an escalation step, an opt-out the gateway
reported).

:mod:`.waves` claims, prepares and sends a wave; :func:`decide` turns each
:class:`Prepared` item and its :class:`~.backends.base.SendAttempt` into a
:class:`Decision` by the retry policy, and :mod:`.wave_recording` writes the decisions'
receipts in one statement.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from .backends.base import AddressResult, BaseChannelBackend, OutgoingMessage, SendAttempt
from .choices import OptOutReason, ReceiptStatus
from .escalation import escalate_failed_on_commit, schedule_escalation_checks
from .exceptions import DeliveryError, TransientDeliveryError
from .models import Notification
from .opt_outs import record_opt_out
from .outgoing import PUSH_TOKEN_SHOWN, address_used
from .retry import max_attempts, retry_delay
from .signals import notification_failed, notification_sent, push_token_invalid
from .twilio_codes import OPT_OUT_CODES
from .wave_recording import ReceiptToWrite, insert_one_receipt

logger = logging.getLogger("chargesol_notifications.delivery")


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What delivery did with one notification: ``sent``, ``failed``, ``retry``,
    ``skipped`` (not queued any more, or another worker holds it) or ``not_due``."""

    result: str
    retry_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Prepared:
    """A claimed notification, ready to send (``message``) or already settled (``error``).

    An opted-out recipient's message is built and settled: both are set, and it is not sent.
    """

    notification: Notification
    attempt_number: int
    backend: BaseChannelBackend | None
    message: OutgoingMessage | None = None
    error: DeliveryError | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """What an attempt means for its notification: the receipts, the outcome, the signals."""

    item: Prepared
    attempt: SendAttempt
    #: The receipt signals hand on: the one that moves the status (a retry's moves none).
    receipt: ReceiptToWrite
    outcome: DeliveryOutcome
    #: For a message sent to several addresses: the receipts of the other addresses,
    #: which never move the status (see :func:`decide_per_address`).
    other_receipts: tuple[ReceiptToWrite, ...] = ()

    @property
    def receipts(self) -> tuple[ReceiptToWrite, ...]:
        """Every receipt to write, the one that moves the status first."""
        return (self.receipt, *self.other_receipts)

    def announce(self, receipt: Any) -> None:
        """Send ``notification_sent`` or ``notification_failed`` (none for a retry)."""
        sender = signal_sender(self.item.backend)
        notification = self.item.notification
        if self.outcome.result == "sent":
            notification_sent.send(
                sender=sender,
                notification=notification,
                receipt=receipt,
                message=self.attempt.message,
            )
        elif self.outcome.result == "failed":
            logger.info("Notification %s failed: %s", notification.pk, self.attempt.error)
            notification_failed.send(
                sender=sender, notification=notification, receipt=receipt, error=self.attempt.error
            )

    def report_invalid_addresses(self, using: str) -> None:
        """Send ``push_token_invalid`` for each token the gateway called invalid, once the
        wave's transaction has committed (whatever the outcome: a retry must not go to the
        token again either).

        After the commit, not during the wave: a receiver deactivates the device in the
        project's own tables, and neither its queries nor its errors may hold the wave's
        row locks or undo the record of messages that have gone out. Its receipts are
        committed by then. A receiver that raises is logged; the others still run.
        """
        invalid = [result for result in self.attempt.per_address if result.invalid]
        if not invalid:
            return
        sender, notification = signal_sender(self.item.backend), self.item.notification

        def report() -> None:
            for result in invalid:
                code = result.error.code if result.error is not None else None
                answers = push_token_invalid.send_robust(
                    sender=sender, token=result.address, notification=notification, error_code=code
                )
                for receiver, answer in answers:
                    if isinstance(answer, Exception):
                        logger.error(
                            "push_token_invalid receiver %r failed", receiver, exc_info=answer
                        )

        transaction.on_commit(report, using=using)


def decide(item: Prepared, attempt: SendAttempt) -> Decision:
    """Sent, retried later or failed: the retry policy, applied to one attempt."""
    if attempt.per_address:
        return decide_per_address(item, attempt)
    notification = item.notification
    address = address_used(attempt.message) if attempt.message is not None else ""
    if attempt.error is None:
        receipt = ReceiptToWrite(
            notification,
            ReceiptStatus.SENT,
            gateway_message_id=attempt.gateway_message_id,
            address=address,
        )
        return Decision(item, attempt, receipt, DeliveryOutcome("sent"))
    error = attempt.error
    number, limit = item.attempt_number, max_attempts()
    if error.transient and number < limit:
        delay = retry_delay(number)
        logger.warning(
            "Notification %s: attempt %s of %s failed (%s); retrying",
            notification.pk,
            number,
            limit,
            error,
        )
        receipt = ReceiptToWrite(
            notification,
            ReceiptStatus.FAILED,
            error_code=error.code,
            error_message=(
                f"Attempt {number} of {limit} failed; retrying in about {delay:.0f} s. "
                f"{error.message}"
            ),
            moves_status=False,
        )
        retry_at = timezone.now() + timedelta(seconds=delay)
        return Decision(item, attempt, receipt, DeliveryOutcome("retry", retry_at=retry_at))
    message = error.message
    if error.transient:
        message = f"Gave up after {number} attempts. {message}"
    receipt = ReceiptToWrite(
        notification,
        ReceiptStatus.FAILED,
        error_code=error.code,
        error_message=message,
        address=address,
    )
    return Decision(item, attempt, receipt, DeliveryOutcome("failed"))


def decide_per_address(item: Prepared, attempt: SendAttempt) -> Decision:
    """The decision on a message sent to several addresses (a push to each device token).

    The retry policy is the one of a single message, applied to the attempt as a whole
    (sent when any address took it; see :meth:`~.backends.base.SendAttempt.to_each`). Then
    each address gets a receipt of its own, so staff see which device took the message
    (``sent``, with the gateway's id) and which refused it (``failed``, with the
    gateway's code): the first accepting address's receipt moves the status, or the
    first address's when none accepted; the others never do.

    A retry keeps its single receipt: a failed receipt without a gateway id is how
    attempts are counted (:mod:`.attempts`), so one per address would use up several.
    """
    whole = decide(item, replace(attempt, per_address=()))
    if whole.outcome.result == "retry":
        return replace(whole, attempt=attempt)
    error = attempt.error
    gave_up = whole.outcome.result == "failed" and error is not None and error.transient
    receipts = [address_receipt(item, result, gave_up=gave_up) for result in attempt.per_address]
    lead = next((i for i, r in enumerate(attempt.per_address) if r.error is None), 0)
    first = replace(receipts.pop(lead), moves_status=True, address=whole.receipt.address)
    return replace(whole, attempt=attempt, receipt=first, other_receipts=tuple(receipts))


def address_receipt(item: Prepared, result: AddressResult, *, gave_up: bool) -> ReceiptToWrite:
    """The receipt of one address of a message sent to several; it moves no status."""
    notification = item.notification
    if result.error is None:
        return ReceiptToWrite(
            notification,
            ReceiptStatus.SENT,
            gateway_message_id=result.gateway_message_id,
            moves_status=False,
        )
    # The start of the token, as Notification.address shows it: enough to tell devices
    # apart, and a token is the device's credential, not for display.
    message = f"Device token {result.address[:PUSH_TOKEN_SHOWN]}…: {result.error.message}"
    if gave_up and result.error.transient:
        message = f"Gave up after {item.attempt_number} attempts. {message}"
    return ReceiptToWrite(
        notification,
        ReceiptStatus.FAILED,
        error_code=result.error.code,
        error_message=message,
        moves_status=False,
    )


def settle_found_messages(decisions: list[Decision], at: datetime) -> list[Decision]:
    """Make sure a message found at the gateway becomes one notification's, and only one's.

    A lookup matches on recipient, sender, text and time, and excludes the messages of
    other notifications already recorded; one recorded meanwhile, or another lookup of
    the same wave finding the same message, would make two notifications claim one
    message. So each found message's ``sent`` receipt is written on its own, first: the
    unique (gateway id, status) lets only one notification have it. Within the wave the
    oldest notification gets it; any other claimant gets a transient ``lookup_failed``
    and its next attempt looks again, with that message now excluded.
    """
    claims: dict[str | None, list[int]] = {}
    for index, decision in enumerate(decisions):
        if decision.attempt.found_at_gateway and decision.outcome.result == "sent":
            claims.setdefault(decision.attempt.gateway_message_id, []).append(index)
    if not claims:
        return decisions
    settled = list(decisions)
    for gateway_id, indexes in claims.items():
        indexes.sort(key=lambda i: (decisions[i].item.notification.created_at, i))
        first, *others = indexes
        written = insert_one_receipt(decisions[first].receipt, at)
        if written is not None:
            settled[first] = replace(
                decisions[first], receipt=replace(decisions[first].receipt, written=written)
            )
        else:
            others = indexes
        for index in others:
            item, attempt = decisions[index].item, decisions[index].attempt
            error = TransientDeliveryError(
                f"The gateway's message {gateway_id}, which looked like this one, belongs to "
                "another notification; the next attempt looks again.",
                code="lookup_failed",
            )
            settled[index] = decide(item, SendAttempt(message=attempt.message, error=error))
    return settled


def record_gateway_opt_outs(decisions: Sequence[Decision]) -> None:
    """Put on the opt-out list each address the gateway refused because its owner opted
    out there (:data:`.twilio_codes.OPT_OUT_CODES`), so the next message to it makes no request.

    Runs while the wave holds its rows; each is one insert (or update) of one opt-out.
    """
    for decision in decisions:
        error, message = decision.attempt.error, decision.attempt.message
        if (
            decision.outcome.result != "failed"
            or error is None
            or error.code not in OPT_OUT_CODES
            or not isinstance(message, OutgoingMessage)
            or isinstance(message.to, tuple)
        ):
            continue
        record_opt_out(
            message.channel,
            address_used(message),
            OptOutReason.GATEWAY_REFUSED,
            detail=f"Notification {message.notification_id}: {error}",
        )


def follow_escalations(decisions: Sequence[Decision], sent_at: datetime, using: str) -> None:
    """The steps of escalation chains in a wave: a failed one escalates once the wave
    commits; a sent one gets its deadline check (see :mod:`.escalation`)."""
    by_result: dict[str, list[Notification]] = {}
    for decision in decisions:
        by_result.setdefault(decision.outcome.result, []).append(decision.item.notification)
    escalate_failed_on_commit(by_result.get("failed", []), using)
    sent = by_result.get("sent", [])
    if sent:
        transaction.on_commit(
            lambda: schedule_escalation_checks(sent, sent_at), using=using, robust=True
        )


def signal_sender(backend: BaseChannelBackend | None) -> type:
    """Signals name the backend class; Notification when no backend could be built."""
    return type(backend) if backend is not None else Notification
