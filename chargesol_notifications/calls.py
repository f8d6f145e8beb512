"""``log_call()`` and ``place_call()``: every phone call of a ChargeSol workflow, logged."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.db import transaction

from .arguments import check_call_arguments
from .backends import get_backend
from .choices import CallOutcome, CallType, Channel
from .exceptions import ConfigurationError, InvalidCallError, InvalidPhoneNumberError
from .models import CallLog
from .outgoing import build_call
from .recipients import normalise_phone, resolve_address

logger = logging.getLogger("chargesol_notifications.calls")

CONTEXT_TYPE_MAX_LENGTH: int = CallLog._meta.get_field("context_type").max_length or 0


def log_call(
    *,
    caller: Any,
    callee_phone: str,
    call_type: str,
    context_type: str,
    context_id: uuid.UUID | str,
    outcome: str = "",
    duration_seconds: int | None = None,
    notes: str = "",
) -> CallLog:
    """Record a call made by hand. Bad arguments raise and write nothing."""
    fields = check_call(
        caller=caller,
        callee_phone=callee_phone,
        call_type=call_type,
        context_type=context_type,
        context_id=context_id,
        notes=notes,
        outcome=outcome,
        duration_seconds=duration_seconds,
    )
    return CallLog.objects.create(
        **fields, outcome=outcome or "", duration_seconds=duration_seconds, notes=str(notes or "")
    )


def place_call(
    *,
    caller: Any,
    callee_phone: str,
    call_type: str,
    context_type: str,
    context_id: uuid.UUID | str,
    notes: str = "",
) -> CallLog:
    """Ring the customer through the ``call`` channel and connect ``caller`` on answer.

    The CallLog is written first; the call is placed once the surrounding transaction
    commits (so the call-status webhook always finds the row), and its outcome and
    duration arrive through that webhook. A call the gateway refuses is noted on the log.
    """
    fields = check_call(
        caller=caller,
        callee_phone=callee_phone,
        call_type=call_type,
        context_type=context_type,
        context_id=context_id,
        notes=notes,
    )
    caller_phone = resolve_address(caller, Channel.CALL)
    if not isinstance(caller_phone, str):
        raise InvalidCallError("The caller has no phone number to connect the call to.")
    try:
        connect_to = normalise_phone(caller_phone)
    except InvalidPhoneNumberError as exc:
        raise InvalidCallError(f"The caller's phone: {exc}") from exc
    backend = get_backend(Channel.CALL)
    if not backend.supports_calls:
        raise ConfigurationError(
            f"{type(backend).__name__}, the backend of the call channel, cannot place calls."
        )
    call_log = CallLog(**fields, notes=str(notes or ""))
    # Built before the row is written: a URLconf without the app's webhooks raises here.
    call = build_call(backend, call_log.pk, to=call_log.callee_phone, connect_to=connect_to)
    call_log.save(force_insert=True)

    def dial() -> None:
        placed = backend.place(call)
        if placed.error is not None:
            logger.warning("Call %s could not be placed: %s", call_log.pk, placed.error)
            call_log.append_note(f"The call could not be placed: {placed.error}")
        else:
            logger.info("Call %s placed (%s)", call_log.pk, placed.gateway_message_id)

    transaction.on_commit(dial, robust=True)
    return call_log


def check_call(
    *,
    caller: Any,
    callee_phone: str,
    call_type: str,
    context_type: str,
    context_id: uuid.UUID | str,
    notes: str,
    outcome: str = "",
    duration_seconds: int | None = None,
) -> dict[str, Any]:
    """Check the arguments of log_call() and place_call(); return the call's fields.

    Types and the caller's row first (:func:`~.arguments.check_call_arguments`), then the
    values. Raises :class:`InvalidCallError`; nothing is written.
    """
    check_call_arguments(
        caller=caller,
        callee_phone=callee_phone,
        call_type=call_type,
        context_type=context_type,
        context_id=context_id,
        notes=notes,
        outcome=outcome,
        duration_seconds=duration_seconds,
    )
    if outcome and outcome not in CallOutcome.values:
        raise InvalidCallError(
            f"Unknown outcome {outcome!r}; choose from {', '.join(CallOutcome.values)}."
        )
    if not callee_phone.startswith("+"):
        raise InvalidCallError(
            f"callee_phone {callee_phone!r} is not in E.164 form (+ and country code)."
        )
    try:
        phone = normalise_phone(callee_phone)
    except InvalidPhoneNumberError as exc:
        raise InvalidCallError(f"callee_phone: {exc}") from exc
    if call_type not in CallType.values:
        raise InvalidCallError(
            f"Unknown call_type {call_type!r}; choose from {', '.join(CallType.values)}."
        )
    if not context_type or len(context_type) > CONTEXT_TYPE_MAX_LENGTH:
        raise InvalidCallError(
            f"context_type must be 1 to {CONTEXT_TYPE_MAX_LENGTH} characters (lead, survey, ...)."
        )
    try:
        context_uuid = (
            context_id if isinstance(context_id, uuid.UUID) else uuid.UUID(str(context_id))
        )
    except ValueError as exc:
        raise InvalidCallError(f"context_id {context_id!r} is not a UUID.") from exc
    return {
        "caller": caller,
        "callee_phone": phone,
        "call_type": call_type,
        "context_type": context_type,
        "context_id": context_uuid,
    }
