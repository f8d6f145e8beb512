"""Finding a user's address for a channel, and reading phone numbers.

The resolver named by ``RECIPIENT_RESOLVER`` answers "where does this user get messages on
this channel?". The default reads attributes of the user (names configurable, since
ChargeSol's custom user calls its phone field whatever it likes) and returns the raw value;
phone numbers are normalised to E.164 by :func:`normalise_phone` at delivery, so a bad
number becomes a failed notification that staff can see rather than an exception in the
lead code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import phonenumbers
from django.utils.module_loading import import_string

from .choices import Channel
from .conf import get_setting
from .exceptions import InvalidPhoneNumberError

#: An address: a phone number or email as a string, or several push tokens.
Address = str | list[str]

PHONE_CHANNELS = frozenset({Channel.SMS, Channel.WHATSAPP, Channel.CALL})


def default_resolver(user: Any, channel: str) -> Address | None:
    """Read the user's email, phone or push token(s) for ``channel``; None when missing."""
    if channel == Channel.EMAIL:
        return getattr(user, get_setting("EMAIL_ATTRIBUTE"), None) or None
    if channel in PHONE_CHANNELS:
        return getattr(user, get_setting("PHONE_ATTRIBUTE"), None) or None
    if channel == Channel.PUSH:
        token_resolver = _as_callable(get_setting("PUSH_TOKEN_RESOLVER"))
        return token_resolver(user) if token_resolver else None
    return None


def resolve_address(user: Any, channel: str) -> Address | None:
    """Ask the configured ``RECIPIENT_RESOLVER`` for ``user``'s address on ``channel``."""
    resolver = _as_callable(get_setting("RECIPIENT_RESOLVER"))
    if resolver is None:
        return None
    address = resolver(user, channel)
    if isinstance(address, (list, tuple)):
        return [str(item) for item in address if item] or None
    return str(address) if address else None


def normalise_phone(raw: str, region: str | None = None) -> str:
    """Return ``raw`` as an E.164 string (``+447700900123``), or raise.

    ``region`` (default: the ``DEFAULT_REGION`` setting) lets national-format numbers such
    as ``07700 900123`` be read; without it only ``+country`` numbers are accepted.
    """
    if region is None:
        region = get_setting("DEFAULT_REGION")
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumberError(f"{raw!r} is not a phone number: {exc}") from exc
    # "Possible" (a known country code and a length that country uses), not "valid":
    # phonenumbers' validity tables reject reserved ranges such as Ofcom's drama numbers
    # (+44 7700 900xxx) and Twilio's test numbers, which ChargeSol uses in demos and
    # tests. Whether a number is assigned is the gateway's to say (Twilio error 21211).
    if not phonenumbers.is_possible_number(parsed) or not raw.strip():
        raise InvalidPhoneNumberError(f"{raw!r} is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _as_callable(value: str | Callable[..., Any] | None) -> Callable[..., Any] | None:
    if value is None or callable(value):
        return value
    return import_string(value)
