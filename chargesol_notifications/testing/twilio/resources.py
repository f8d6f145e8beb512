"""The Message and Call resources the stand-in answers with, shaped by Twilio's schemas.

Every property of ``api.v2010.account.message`` / ``api.v2010.account.call`` is present,
with the value Twilio gives a freshly created resource: ``status`` ``queued`` (``accepted``
when a Messaging Service picks the sender, ``scheduled`` for a scheduled message), dates in
RFC 2822, counts as strings, prices ``null`` until the carrier reports them.
:func:`check_representation` checks a JSON value against those schemas, so tests prove
the answers are what the real client expects.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from ...segments import count_segments as sms_segments
from . import spec

API_VERSION = "2010-04-01"


def new_sid(prefix: str) -> str:
    """A Twilio SID: two letters and 32 lowercase hex digits."""
    return prefix + secrets.token_hex(16)


def rfc2822(moment: datetime) -> str:
    """Twilio's date format: ``Thu, 24 Aug 2023 05:01:45 +0000``."""
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0))


def count_segments(body: str, *, whatsapp: bool = False) -> int:
    """How many SMS segments Twilio bills for ``body`` (WhatsApp messages are one).

    The rule is the app's own (:mod:`chargesol_notifications.segments`), so the stand-in,
    the backends and the admin can never disagree about it.
    """
    if whatsapp or not body:
        return 1
    return sms_segments(body).segments


def _first(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name)
    return values[0] if values else None


def message_representation(
    account_sid: str, params: Mapping[str, Sequence[str]], now: datetime
) -> dict[str, Any]:
    """The JSON Twilio answers a successful ``CreateMessage`` with."""
    media = list(params.get("MediaUrl", ()))
    sid = new_sid("MM" if media else "SM")
    to = _first(params, "To") or ""
    sender = _first(params, "From")
    service = _first(params, "MessagingServiceSid")
    body = _first(params, "Body") or ""
    if _first(params, "ScheduleType"):
        status = "scheduled"
    elif service and not sender:
        status = "accepted"
    else:
        status = "queued"
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}"
    return {
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "body": body,
        "date_created": rfc2822(now),
        "date_sent": None,
        "date_updated": rfc2822(now),
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": sender,
        "messaging_service_sid": service,
        "num_media": str(len(media)),
        "num_segments": str(count_segments(body, whatsapp=to.startswith("whatsapp:"))),
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": status,
        "subresource_uris": {
            "media": f"{uri}/Media.json",
            "feedback": f"{uri}/Feedback.json",
        },
        "to": to,
        "uri": f"{uri}.json",
    }


def call_representation(
    account_sid: str, params: Mapping[str, Sequence[str]], now: datetime
) -> dict[str, Any]:
    """The JSON Twilio answers a successful ``CreateCall`` with."""
    sid = new_sid("CA")
    to = _first(params, "To") or ""
    sender = _first(params, "From") or ""
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Calls/{sid}"
    subresources = (
        "events",
        "notifications",
        "payments",
        "recordings",
        "siprec",
        "streams",
        "transcriptions",
        "user_defined_message_subscriptions",
        "user_defined_messages",
    )
    return {
        "account_sid": account_sid,
        "answered_by": None,
        "api_version": API_VERSION,
        "caller_name": None,
        "date_created": rfc2822(now),
        "date_updated": rfc2822(now),
        "direction": "outbound-api",
        "duration": None,
        "end_time": None,
        "forwarded_from": None,
        "from": sender,
        "from_formatted": sender,
        "group_sid": None,
        "parent_call_sid": None,
        "phone_number_sid": new_sid("PN") if sender.startswith("+") else None,
        "price": None,
        "price_unit": "USD",
        "queue_time": "0",
        "sid": sid,
        "start_time": None,
        "status": "queued",
        "subresource_uris": {name: f"{uri}/{_camel(name)}.json" for name in subresources},
        "to": to,
        "to_formatted": to,
        "trunk_sid": None,
        "uri": f"{uri}.json",
    }


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


# -- conformance ---------------------------------------------------------------------------

_JSON_TYPES: Mapping[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


def _check(schema: Mapping[str, Any], value: Any, where: str) -> list[str]:
    schema = spec.resolve(dict(schema))
    if value is None:
        return [] if schema.get("nullable") else [f"{where} is null but not nullable"]
    kind = schema.get("type", "string")
    if not isinstance(value, _JSON_TYPES[kind]) or (kind == "integer" and isinstance(value, bool)):
        return [f"{where} is {type(value).__name__}, not {kind}"]
    problems = []
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where}={value!r} is not one of {schema['enum']}")
    if kind == "string":
        pattern = schema.get("pattern")
        if pattern and not re.search(pattern, value):
            problems.append(f"{where}={value!r} does not match {pattern}")
        if schema.get("format") == "date-time-rfc-2822":
            try:
                parsedate_to_datetime(value)
            except (TypeError, ValueError):
                problems.append(f"{where}={value!r} is not an RFC 2822 date")
    if kind == "object" and schema.get("format") == "uri-map":
        problems += [
            f"{where}.{k} is not a string" for k, v in value.items() if not isinstance(v, str)
        ]
    return problems


def check_representation(schema_name: str, value: Mapping[str, Any]) -> list[str]:
    """Differences between ``value`` and the named response schema; empty when it conforms.

    Every property the schema declares must be present (Twilio always sends them all,
    ``null`` when unknown), and no property may be missing from the schema.
    """
    properties = spec.schema(schema_name)["properties"]
    problems = [f"{name} is missing" for name in properties if name not in value]
    problems += [f"{name} is not in {schema_name}" for name in value if name not in properties]
    for name, prop in properties.items():
        if name in value:
            problems += _check(prop, value[name], name)
    return problems
