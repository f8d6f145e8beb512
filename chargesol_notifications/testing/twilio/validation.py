"""Checks a create request against Twilio's OpenAPI description, as the real API would.

Two sources of truth are combined:

* the machine-readable schema of the committed slice (:mod:`.spec`): parameter names,
  types, ``required``, enums, patterns, lengths and formats;
* rules that Twilio states only in the parameters' descriptions (``Can be: `Enable` or
  `DetectMessageEnd```, "one of Body/MediaUrl/ContentSid", "Max 4000 characters"). They
  are written out in :data:`DOCUMENTED_ENUMS` and the ``_*_rules`` functions, and a test
  checks that every enumerated value still appears in the description it came from.

Each problem carries the Twilio error code the real API answers with (21211 for a bad
``To``, 21604 for a missing one, ...), so a rejected request looks exactly like production;
problems with no dedicated code get 20001 with a message that names the parameter.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

from . import spec
from .errors import BAD_REQUEST, twilio_error

MESSAGES = "messages"
CALLS = "calls"

Params = Mapping[str, Sequence[str]]

_E164 = r"\+[1-9]\d{1,14}"
_PHONE = re.compile(rf"^{_E164}$")
_WHATSAPP = re.compile(rf"^whatsapp:{_E164}$")
_SHORT_CODE = re.compile(r"^\d{5,6}$")
_ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
_CLIENT = re.compile(r"^client:[A-Za-z0-9_.\-]+$")
_SIP = re.compile(r"^sip:[^@\s]+@[^@\s]+$")
_INTEGER = re.compile(r"^-?\d+$")
_SEND_DIGITS = re.compile(r"^[0-9A-D#*wW]*$")

#: Enumerations Twilio gives only in prose (``Can be: `a`, `b` ...``), per operation.
#: Space- or comma-separated lists (the *Event parameters) are checked value by value.
DOCUMENTED_ENUMS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    CALLS: {
        "MachineDetection": ("Enable", "DetectMessageEnd"),
        "RecordingChannels": ("mono", "dual"),
        "RecordingStatusCallbackEvent": ("in-progress", "completed", "absent"),
        "Trim": ("trim-silence", "do-not-trim"),
        "RecordingTrack": ("inbound", "outbound", "both"),
        "AsyncAmd": ("true", "false"),
    },
    MESSAGES: {},
}

#: Inclusive ranges Twilio gives in prose.
DOCUMENTED_RANGES: Mapping[str, Mapping[str, tuple[int, int]]] = {
    CALLS: {
        "Timeout": (1, 600),
        "MachineDetectionSpeechThreshold": (1000, 6000),
        "MachineDetectionSpeechEndThreshold": (500, 5000),
        "MachineDetectionSilenceTimeout": (2000, 10000),
    },
    MESSAGES: {"ValidityPeriod": (1, 36000)},
}

_LISTS = {"StatusCallbackEvent", "RecordingStatusCallbackEvent"}

#: Twilio's code for a malformed value of these parameters.
_FORMAT_CODES = {"To": 21211, "From": 21212, "StatusCallback": 21609, "Url": 21205}

_MISSING = {
    MESSAGES: {"To": 21604, "From": 21603},
    CALLS: {"To": 21201, "From": 21213},
}


@dataclass(frozen=True)
class Problem:
    """One reason the real API would reject a request, with the code it would answer."""

    param: str | None
    message: str
    code: int = BAD_REQUEST

    def __str__(self) -> str:
        where = f"{self.param}: " if self.param else ""
        return f"{where}{self.message} (Twilio error {self.code})"


def _format_problem(name: str, value: str, reason: str) -> Problem:
    code = _FORMAT_CODES.get(name)
    if code is None:
        return Problem(name, f"Invalid parameter '{name}': {value!r} {reason}")
    error = twilio_error(code, to=value, from_=value, value=value)
    return Problem(name, error.message, code)


# -- formats -----------------------------------------------------------------------------


def is_uri(value: str) -> bool:
    """An absolute http(s) URL with a hostname; Twilio refuses underscores in hostnames."""
    if not value or any(ch.isspace() for ch in value):
        return False
    parts = urlsplit(value)
    host = parts.hostname or ""
    return parts.scheme in ("http", "https") and bool(host) and "_" not in host


def _message_address(name: str, value: str) -> bool:
    if _PHONE.match(value) or _WHATSAPP.match(value):
        return True
    # A sender may also be a short code or an alphanumeric sender ID; a recipient may not.
    return name != "To" and bool(_SHORT_CODE.match(value) or _ALPHANUMERIC_SENDER.match(value))


def _call_endpoint(name: str, value: str) -> bool:
    if _PHONE.match(value) or _CLIENT.match(value):
        return True
    return name == "To" and bool(_SIP.match(value))


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


_FORMATS: Mapping[str, Callable[[str, str], bool]] = {
    "phone-number": _message_address,
    "endpoint": _call_endpoint,
    "uri": lambda _name, value: is_uri(value),
    "date-time": lambda _name, value: _is_datetime(value),
}


def _check_string(name: str, schema: Mapping[str, Any], value: str) -> list[Problem]:
    fmt = schema.get("format")
    check = _FORMATS.get(fmt or "")
    ignore_format = schema.get("x-twilio", {}).get("ignoreFormat", False)
    if check is not None and not ignore_format and not check(name, value):
        return [_format_problem(name, value, f"is not a valid {fmt}")]
    if "enum" in schema and value not in schema["enum"]:
        return [_format_problem(name, value, f"is not one of {', '.join(schema['enum'])}")]
    pattern = schema.get("pattern")
    if pattern and not re.search(pattern, value):
        return [_format_problem(name, value, f"does not match {pattern}")]
    if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", 1 << 30):
        return [_format_problem(name, value, "has the wrong length")]
    return []


def _check_value(name: str, schema: Mapping[str, Any], value: str) -> list[Problem]:
    kind = schema.get("type", "string")
    if kind == "integer" and not _INTEGER.match(value):
        return [_format_problem(name, value, "is not an integer")]
    if kind == "number":
        try:
            float(value)
        except ValueError:
            return [_format_problem(name, value, "is not a number")]
    if kind == "boolean" and value not in ("true", "false"):
        return [_format_problem(name, value, "is not a boolean (true or false)")]
    if kind == "string":
        return _check_string(name, schema, value)
    return []


def _check_param(name: str, schema: Mapping[str, Any], values: Sequence[str]) -> list[Problem]:
    schema = spec.resolve(dict(schema))
    if schema.get("type") == "array":
        items = spec.resolve(schema.get("items", {}))
        return [p for value in values for p in _check_value(name, items, value)]
    if len(values) > 1:
        return [Problem(name, f"Parameter '{name}' was sent {len(values)} times")]
    return _check_value(name, schema, values[0])


# -- rules stated in the descriptions ------------------------------------------------------


def _present(params: Params, name: str) -> bool:
    return any(value != "" for value in params.get(name, ()))


def _first(params: Params, name: str) -> str:
    values = params.get(name) or [""]
    return values[0]


def _tokens(values: Sequence[str]) -> list[str]:
    return [token for value in values for token in re.split(r"[\s,]+", value) if token]


def _documented(kind: str, params: Params) -> list[Problem]:
    problems: list[Problem] = []
    for name, allowed in DOCUMENTED_ENUMS[kind].items():
        values = params.get(name, ())
        for token in _tokens(values) if name in _LISTS else values:
            if token not in allowed:
                problems.append(_format_problem(name, token, f"is not one of {', '.join(allowed)}"))
    for name, (low, high) in DOCUMENTED_RANGES[kind].items():
        value = _first(params, name)
        if _INTEGER.match(value) and not low <= int(value) <= high:
            problems.append(_format_problem(name, value, f"is outside {low}..{high}"))
    return problems


def _message_rules(params: Params) -> list[Problem]:
    problems: list[Problem] = []
    if len(_first(params, "Body")) > 1600:
        problems.append(Problem("Body", twilio_error(21617).message, 21617))
    if len(params.get("MediaUrl", ())) > 10:
        problems.append(Problem("MediaUrl", "At most 10 'MediaUrl' parameters are allowed"))
    if _present(params, "ContentVariables"):
        try:
            variables = json.loads(_first(params, "ContentVariables"))
        except ValueError:
            variables = None
        if not isinstance(variables, dict) or not _present(params, "ContentSid"):
            problems.append(Problem("ContentVariables", twilio_error(21656).message, 21656))
    to, sender = _first(params, "To"), _first(params, "From")
    if sender and to and to.startswith("whatsapp:") != sender.startswith("whatsapp:"):
        problems.append(Problem("From", twilio_error(21910).message, 21910))
    for name, needs in (
        ("ShortenUrls", "MessagingServiceSid"),
        ("FallbackFrom", "MessagingServiceSid"),
        ("ScheduleType", "SendAt"),
        ("SendAt", "ScheduleType"),
    ):
        if (
            _present(params, name)
            and _first(params, name) != "false"
            and not _present(params, needs)
        ):
            problems.append(Problem(name, f"'{name}' requires '{needs}'"))
    return problems


def _twiml_problems(twiml: str) -> list[Problem]:
    if len(twiml) > 4000:
        return [Problem("Twiml", "'Twiml' is longer than 4000 characters")]
    try:
        root = ElementTree.fromstring(twiml)
    except ElementTree.ParseError as exc:
        return [Problem("Twiml", f"{twilio_error(12100).message}: {exc}", 12100)]
    if root.tag != "Response":
        return [Problem("Twiml", "TwiML must have a <Response> root element", 12100)]
    return []


def _call_rules(params: Params) -> list[Problem]:
    problems: list[Problem] = []
    for token in _tokens(params.get("StatusCallbackEvent", ())):
        if token not in spec.schema("call_enum_event")["enum"]:
            problems.append(
                Problem("StatusCallbackEvent", twilio_error(21626, value=token).message, 21626)
            )
    if _present(params, "Twiml"):
        problems += _twiml_problems(_first(params, "Twiml"))
    digits = _first(params, "SendDigits")
    if len(digits) > 32 or not _SEND_DIGITS.match(digits):
        problems.append(_format_problem("SendDigits", digits, "is not up to 32 of 0-9 A-D # * w W"))
    to, sender = _first(params, "To"), _first(params, "From")
    if _PHONE.match(to) and sender and not _PHONE.match(sender):
        problems.append(_format_problem("From", sender, "must be a phone number when To is one"))
    return problems


def _required(kind: str, params: Params, required: Sequence[str]) -> list[Problem]:
    problems = []
    for name in required:
        if not _present(params, name):
            code = _MISSING[kind][name]
            problems.append(Problem(name, twilio_error(code).message, code))
    if kind == MESSAGES:
        if not any(_present(params, n) for n in ("Body", "MediaUrl", "ContentSid")):
            problems.append(Problem("Body", twilio_error(21602).message, 21602))
        if not any(_present(params, n) for n in ("From", "MessagingServiceSid")):
            problems.append(Problem("From", twilio_error(21603).message, 21603))
    elif not any(_present(params, n) for n in ("Url", "Twiml", "ApplicationSid")):
        problems.append(Problem("Url", "One of 'Url', 'Twiml' or 'ApplicationSid' is required"))
    return problems


def validate_create(kind: str, params: Params) -> list[Problem]:
    """Every reason Twilio's API would reject this create; empty when it would accept it.

    Missing parameters come first, as the real API reports them first; unknown
    parameters come last (Twilio may ignore some, but an unknown name is always a bug in
    the code under test: a typo, or a parameter of another operation).
    """
    path = spec.MESSAGES_PATH if kind == MESSAGES else spec.CALLS_PATH
    body = spec.request_schema(path)
    properties = body["properties"]
    problems = _required(kind, params, body.get("required", ()))
    for name, values in params.items():
        # An empty To/From is already reported as missing; any other empty value is checked.
        if name in properties and (any(values) or name not in ("To", "From")):
            problems += _check_param(name, properties[name], values)
    problems += _documented(kind, params)
    problems += _message_rules(params) if kind == MESSAGES else _call_rules(params)
    operation = "CreateMessage" if kind == MESSAGES else "CreateCall"
    for name in params:
        if name not in properties:
            problems.append(Problem(name, f"Unknown parameter '{name}' for {operation}"))
    return problems


def check_query_value(name: str, schema: Mapping[str, Any], value: str) -> list[Problem]:
    """Problems with one query parameter of a list operation (types, formats, ranges)."""
    schema = spec.resolve(dict(schema))
    problems = _check_value(name, schema, value)
    if not problems and schema.get("type") == "integer":
        number = int(value)
        low, high = schema.get("minimum"), schema.get("maximum")
        if (low is not None and number < low) or (high is not None and number > high):
            problems.append(_format_problem(name, value, f"is outside {low}..{high}"))
    return problems
