"""Delivering queued notifications in waves: claim, send at once, record together.

A *wave* is at most ``CONCURRENCY`` notifications of one channel (see
:mod:`.delivery_settings`). In one transaction, delivery

1. claims the wave's rows that are still ``queued`` with ``SELECT ... FOR UPDATE SKIP
   LOCKED``: a row another worker holds is skipped, not waited for, so several workers,
   retries and ``deliver_queued`` runs on several hosts never send the same row twice;
2. reads their earlier transient failures (one query), leaves the ones whose retry or
   scheduled time (``scheduled_for``) is not due yet, and builds each message
   (address, length, callback URL) in this thread;
   then asks the opt-out list about the built messages' addresses (one query) and
   fails those opted out (``opted_out``) without a request to the gateway;
3. sends them at once from a thread pool, paced by the channel's rate limit and any
   pause after a 429 (:mod:`.send_pool`);
4. writes every receipt in one INSERT and moves the statuses in one UPDATE per new
   status (:mod:`.wave_recording`), then commits, which releases the rows. A message
   sent to several push tokens has a receipt per token (:func:`decide`); the tokens the
   gateway calls invalid are reported by ``push_token_invalid`` once the wave commits.
   A gateway's refusal because the recipient opted out there (Twilio's 21610) puts the
   address on the opt-out list, so the next message to it makes no request.

The rows stay locked from the claim to the commit, so a status webhook about one of
them waits for the wave to be recorded. A process killed between the sends and the
commit leaves its wave ``queued`` with nothing recorded: the next delivery (a retry,
``deliver_queued``) sends those messages again. That is the crash window: at most one
wave, ``CONCURRENCY`` messages, per killed process (docs/guarantees.rst).

SQLite has no row locks (Django ignores ``select_for_update()`` there): with SQLite,
run a single delivering process.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from .attempts import AttemptHistory, attempt_histories, uncertain_attempt
from .backends import get_backend
from .backends.base import (
    AddressResult,
    BaseChannelBackend,
    OutgoingMessage,
    SendAttempt,
    as_delivery_error,
)
from .choices import NotificationStatus, OptOutReason, ReceiptStatus
from .delivery_settings import ChannelPacing, channel_pacing
from .escalation import escalate_failed_on_commit, schedule_escalation_checks
from .exceptions import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from .models import DeliveryReceipt, Notification, NotificationTemplate
from .opt_outs import normal_address, opted_out, record_opt_out
from .outgoing import PUSH_TOKEN_SHOWN, address_used, build_message
from .retry import max_attempts, next_send_at, retry_delay
from .send_pool import send_wave
from .signals import notification_failed, notification_sent, push_token_invalid
from .twilio_codes import OPT_OUT_CODES
from .value_lists import in_values
from .wave_recording import ReceiptToWrite, insert_one_receipt, record_wave

logger = logging.getLogger("chargesol_notifications.delivery")

Extras = Mapping[str, Mapping[str, Any]]

#: How long after its due time a retry that ran too early is deferred to.
EARLY_RUN_MARGIN = timedelta(seconds=1)


@dataclass(frozen=True)
class DeliveryOutcome:
    """What delivery did with one notification: ``sent``, ``failed``, ``retry``,
    ``skipped`` (not queued any more, or another worker holds it) or ``not_due``."""

    result: str
    retry_at: datetime | None = None


@dataclass(frozen=True)
class Prepared:
    """A claimed notification, ready to send (``message``) or already settled (``error``).

    An opted-out recipient's message is built and settled: both are set, and it is not sent.
    """

    notification: Notification
    attempt_number: int
    backend: BaseChannelBackend | None
    message: OutgoingMessage | None = None
    error: DeliveryError | None = None


def deliver_waves(
    notification_ids: Sequence[uuid.UUID | str],
    extras: Extras | None = None,
    *,
    channel: str | None = None,
) -> dict[uuid.UUID, DeliveryOutcome]:
    """Deliver ``notification_ids`` wave after wave; the outcome of each.

    ``channel`` (when all are of one channel, as a batch of ``notify_many()`` is) sizes
    the waves to its ``CONCURRENCY``; without it, the waves are of one notification.
    """
    ids = list(dict.fromkeys(uuid.UUID(str(pk)) for pk in notification_ids))
    size = wave_size(channel)
    outcomes: dict[uuid.UUID, DeliveryOutcome] = {}
    templates: dict[Any, NotificationTemplate] = {}
    for start in range(0, len(ids), size):
        outcomes.update(deliver_wave(ids[start : start + size], extras or {}, templates))
    return outcomes


def wave_size(channel: str | None) -> int:
    if channel is None:
        return 1
    try:
        return channel_pacing(channel).concurrency
    except ImproperlyConfigured as exc:
        # Delivery reports the broken setting on each notification (a transient
        # improperly_configured receipt); here it only means waves of one.
        logger.error("Delivering %s one at a time: %s", channel, exc)
        return 1


def deliver_wave(
    ids: Sequence[uuid.UUID],
    extras: Extras,
    templates: dict[Any, NotificationTemplate] | None = None,
) -> dict[uuid.UUID, DeliveryOutcome]:
    """Claim, send and record one wave (see the module's docstring); each one's outcome."""
    templates = {} if templates is None else templates
    outcomes: dict[uuid.UUID, DeliveryOutcome] = {}
    using = router.db_for_write(Notification)
    with transaction.atomic(using=using):
        claimed = claim(ids, templates)
        claimed_ids = {n.pk for n in claimed}
        for pk in ids:
            if pk not in claimed_ids:
                outcomes[pk] = DeliveryOutcome("skipped")
        if not claimed:
            return outcomes
        # Most rows have never failed: only those that have cost the query.
        retried = [n.pk for n in claimed if getattr(n, "has_failed_before", True)]
        histories = attempt_histories(retried) if retried else {}
        now = timezone.now()
        backends = WaveBackends()
        prepared: list[Prepared] = []
        for notification in claimed:
            history = histories.get(notification.pk, AttemptHistory())
            due = next_send_at(notification.scheduled_for, history.count, history.last_failure_at)
            if due is not None and now < due:
                # Run early: a queue that keeps times in whole seconds (RQ) can start a
                # deferred retry up to a second before its time; a scheduled row's task
                # finds it rescheduled to later. Defer it again, to a moment past its due
                # time, rather than leave it to cron; the claim sends it once however
                # many tasks come for it.
                retry_at = due + EARLY_RUN_MARGIN
                outcomes[notification.pk] = DeliveryOutcome("not_due", retry_at=retry_at)
                continue
            extra = extras.get(str(notification.pk)) or {}
            prepared.append(prepare(notification, history, extra, backends))
        settled = send_prepared(refuse_opted_out(prepared))
        decisions = [decide(item, attempt) for item, attempt in settled]
        recorded_at = timezone.now()
        decisions = settle_found_messages(decisions, recorded_at)
        for decision in decisions:
            outcomes[decision.item.notification.pk] = decision.outcome
        receipts = iter(record_wave([r for d in decisions for r in d.receipts], recorded_at))
        record_gateway_opt_outs(decisions)
        for decision in decisions:
            written = [next(receipts) for _ in decision.receipts]
            decision.announce(written[0])  # None only when no signal has a receiver
            decision.report_invalid_addresses(using)
        escalating = [d for d in decisions if d.item.notification.fallback_channels]
        if escalating:
            follow_escalations(escalating, recorded_at, using)
    return outcomes


def claim(
    ids: Sequence[uuid.UUID], templates: dict[Any, NotificationTemplate]
) -> list[Notification]:
    """Lock the rows of ``ids`` still ``queued`` that no other worker holds; load them
    with their recipient and template, in the order of ``ids``. ``templates`` keeps the
    templates loaded so far, across the waves of one batch."""
    alias = router.db_for_write(Notification)
    pk_field = Notification._meta.pk
    assert pk_field is not None
    # No ORDER BY (the model's is created_at): the rows are put in the order of ids below.
    queued = (
        Notification.objects.using(alias)
        .filter(pk__in=in_values(pk_field, ids, alias), status=NotificationStatus.QUEUED)
        .order_by()
    )
    has_failed_before = Exists(
        DeliveryReceipt.objects.filter(
            notification=OuterRef("pk"), status=ReceiptStatus.FAILED, gateway_message_id=None
        )
    )
    features = connections[alias].features
    if features.has_select_for_update_of or not features.has_select_for_update:
        # PostgreSQL: lock only the notification rows, load the rest in the same query.
        # SQLite has no row locks (Django leaves FOR UPDATE out): one query too.
        rows = list(
            queued.select_related("recipient")
            .annotate(has_failed_before=has_failed_before)
            .select_for_update(skip_locked=True, of=("self",))
        )
    else:
        # MariaDB/MySQL lock every joined row: a user row locked by another wave would
        # make this one skip its own notification. Lock alone, then load.
        locked = list(queued.select_for_update(skip_locked=True).values_list("pk", flat=True))
        rows = list(
            Notification.objects.using(alias)
            .select_related("recipient")
            .annotate(has_failed_before=has_failed_before)
            .filter(pk__in=in_values(pk_field, locked, alias))
            .order_by()
        )
    # A batch's notifications share one template, or a few: load each once, not per row.
    template_ids = {n.template_id for n in rows if n.template_id is not None} - templates.keys()
    if template_ids:
        templates.update(NotificationTemplate.objects.using(alias).in_bulk(template_ids))
    for notification in rows:
        if notification.template_id is not None:
            # None: deleted since the row was read; the stored body is what is sent.
            notification.template = templates.get(notification.template_id)
    order = {pk: index for index, pk in enumerate(ids)}
    return sorted(rows, key=lambda n: order[n.pk])


class WaveBackends(dict[str, BaseChannelBackend]):
    """This thread's backend of each channel, looked up once per wave."""

    def __missing__(self, channel: str) -> BaseChannelBackend:
        backend = self[channel] = get_backend(channel)
        return backend


def prepare(
    notification: Notification,
    history: AttemptHistory,
    extra: Mapping[str, Any],
    backends: WaveBackends,
) -> Prepared:
    """Build ``notification``'s message in this thread (the resolver may query)."""
    number = history.count + 1
    backend: BaseChannelBackend | None = None
    try:
        backend = backends[notification.channel]
        message = build_message(
            notification,
            backend,
            extra,
            uncertain_attempt=uncertain_attempt(notification, history),
        )
    except ImproperlyConfigured as exc:
        # A broken channel setting is fixed by a deploy, not by the message: keep the
        # notification for a retry (bounded like any transient failure), and let the
        # other channels go on.
        logger.error("Cannot deliver notification %s: %s", notification.pk, exc)
        error = TransientDeliveryError(str(exc), code="improperly_configured")
        return Prepared(notification, number, backend, error=error)
    except Exception as exc:
        # No address, a bad number, a body too long: the codes staff read. A resolver
        # that crashed goes by the backends' policy for unexpected errors.
        during = f"building the message of notification {notification.pk}"
        return Prepared(notification, number, backend, error=as_delivery_error(exc, during=during))
    return Prepared(notification, number, backend, message=message)


def refuse_opted_out(prepared: Sequence[Prepared]) -> list[Prepared]:
    """``prepared``, with the messages to opted-out addresses settled as ``opted_out``.

    One query for the whole wave (none when no message was built): the opt-out list
    answers with the (channel, address) pairs on it, so the receipt says where the
    message would have gone; the reason is on the opt-out's page in the admin.
    """
    built = {
        index: (item.notification.channel, address_used(item.message))
        for index, item in enumerate(prepared)
        if item.message is not None and item.error is None
    }
    if not built:
        return list(prepared)
    refused = opted_out(built.values())
    if not refused:
        return list(prepared)
    settled = list(prepared)
    for index, (channel, address) in built.items():
        if (channel, normal_address(channel, address)) in refused:
            error = PermanentDeliveryError(
                f"{address} is on the {channel} opt-out list; Opt-outs in the admin says why.",
                code="opted_out",
            )
            settled[index] = replace(prepared[index], error=error)
    return settled


def send_prepared(prepared: Sequence[Prepared]) -> list[tuple[Prepared, SendAttempt]]:
    """Send every prepared message, channel by channel; pair each item with its attempt.

    An item already settled (``error``) is not sent; its attempt carries the message
    when one was built, so the receipt still records the address.
    """
    attempts: dict[int, SendAttempt] = {}
    by_channel: dict[str, list[int]] = {}
    for index, item in enumerate(prepared):
        if item.message is None or item.error is not None:
            attempts[index] = SendAttempt(message=item.message, error=item.error)
        else:
            by_channel.setdefault(item.notification.channel, []).append(index)
    for channel, indexes in by_channel.items():
        messages = [prepared[i].message for i in indexes]
        sent = send_wave(channel, [m for m in messages if m is not None], pacing_of(channel))
        attempts.update(zip(indexes, sent, strict=True))
    return [(item, attempts[index]) for index, item in enumerate(prepared)]


def pacing_of(channel: str) -> ChannelPacing:
    try:
        return channel_pacing(channel)
    except ImproperlyConfigured:
        return ChannelPacing(concurrency=1, rate_limit=None)


@dataclass(frozen=True)
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


def signal_sender(backend: BaseChannelBackend | None) -> type:
    """Signals name the backend class; Notification when no backend could be built."""
    return type(backend) if backend is not None else Notification
