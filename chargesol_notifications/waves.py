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

Steps 1 and 2 are :mod:`.wave_preparation`'s, what each attempt means is
:mod:`.wave_decisions`' and the writing is :mod:`.wave_recording`'s; this module runs a
wave through them.

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
from datetime import timedelta
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import router, transaction
from django.utils import timezone

from .attempts import AttemptHistory, attempt_histories
from .backends.base import SendAttempt
from .delivery_settings import ChannelPacing, channel_pacing
from .models import Notification, NotificationTemplate
from .retry import next_send_at
from .send_pool import send_wave
from .wave_decisions import (
    DeliveryOutcome,
    Prepared,
    decide,
    follow_escalations,
    record_gateway_opt_outs,
    settle_found_messages,
)
from .wave_preparation import WaveBackends, claim, prepare, refuse_opted_out
from .wave_recording import record_wave

logger = logging.getLogger("chargesol_notifications.delivery")

__all__ = ["DeliveryOutcome", "Extras", "deliver_wave", "deliver_waves"]

Extras = Mapping[str, Mapping[str, Any]]

#: How long after its due time a retry that ran too early is deferred to.
EARLY_RUN_MARGIN = timedelta(seconds=1)


def deliver_waves(
    notification_ids: Sequence[uuid.UUID | str],
    extras: Extras | None = None,
    *,
    channel: str | None = None,
    templates: dict[Any, NotificationTemplate] | None = None,
) -> dict[uuid.UUID, DeliveryOutcome]:
    """Deliver ``notification_ids`` wave after wave; the outcome of each.

    ``channel`` (when all are of one channel, as a batch of ``notify_many()`` is) sizes
    the waves to its ``CONCURRENCY``; without it, the waves are of one notification.
    ``templates``: the templates loaded so far, by id, kept by a caller that delivers
    several batches in a row (``deliver_queued``); each wave adds those it loads.
    """
    ids = list(dict.fromkeys(map(as_uuid, notification_ids)))
    size = wave_size(channel)
    outcomes: dict[uuid.UUID, DeliveryOutcome] = {}
    templates = {} if templates is None else templates
    for start in range(0, len(ids), size):
        outcomes.update(deliver_wave(ids[start : start + size], extras or {}, templates))
    return outcomes


def as_uuid(pk: uuid.UUID | str) -> uuid.UUID:
    # deliver_queued passes the UUIDs it read; a task's arguments are strings.
    return pk if type(pk) is uuid.UUID else uuid.UUID(str(pk))


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
            # Keyed by the id as text (a task's JSON); most batches carry none.
            extra = (extras.get(str(notification.pk)) or {}) if extras else {}
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
