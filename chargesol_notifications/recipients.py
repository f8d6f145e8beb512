"""Finding a user's address for a channel, the user behind an address, and reading phone
numbers.

The resolver named by ``RECIPIENT_RESOLVER`` answers "where does this user get messages on
this channel?". The default reads attributes of the user (names configurable, since
ChargeSol's custom user calls its phone field whatever it likes) and returns the raw value;
phone numbers are normalised to E.164 by :func:`normalise_phone` at delivery, so a bad
number becomes a failed notification that staff can see rather than an exception in the
lead code.

The resolver named by ``SENDER_RESOLVER`` answers the reverse question for a customer's
reply: "which user wrote from this address?". The default looks the number up in the
user's phone field in every common written form (:func:`written_forms`), since that field
holds what people typed.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable
from typing import Any

import phonenumbers
from django.contrib.auth import get_user_model
from django.utils.module_loading import import_string

from .choices import Channel
from .conf import get_setting
from .exceptions import InvalidPhoneNumberError

#: An address: a phone number or email as a string, or several push tokens.
Address = str | list[str]

PHONE_CHANNELS = frozenset({Channel.SMS, Channel.WHATSAPP, Channel.CALL})

#: Besides digits and spaces, what a written phone number may hold: "+", brackets, dots,
#: slashes and dashes (ASCII, Unicode and full-width). Anything else (a letter, "#", ",",
#: ";", "*", a control character) is refused rather than guessed at: phonenumbers reads
#: letters as keypad digits ("FLOWERS") and "x", "ext.", "#", ",", ";" as the start of an
#: extension, and neither can be dialled or texted as one E.164 number.
PHONE_PUNCTUATION = frozenset(
    "+()./-"
    "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"  # hyphens, dashes, minus
    "\uff0b\uff08\uff09\uff0e\uff0f\uff0d"  # full-width + ( ) . / -
)


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


def resolve_sender(address: str, channel: str) -> Any | None:
    """Ask the configured ``SENDER_RESOLVER`` which user wrote from ``address`` on
    ``channel`` (``sms``: E.164; ``whatsapp``: ``whatsapp:+…``); None when it cannot say."""
    resolver = _as_callable(get_setting("SENDER_RESOLVER"))
    return resolver(address, channel) if resolver is not None else None


def default_sender_resolver(address: str, channel: str) -> Any | None:
    """The one user whose ``PHONE_ATTRIBUTE`` field holds the number of ``address``.

    The field is compared with every common written form of the number
    (:func:`written_forms`): one indexed ``IN`` lookup, at most two rows read. None when
    no user or more than one has that number (a shared family phone must not be guessed
    at), when ``address`` is not a phone number, or when ``PHONE_ATTRIBUTE`` is not a
    column of the user model (a property cannot be searched).
    """
    field = phone_field()
    if field is None:
        return None
    number = address.removeprefix("whatsapp:")
    try:
        phone = normalise_phone(number)
    except InvalidPhoneNumberError:
        return None
    users = list(
        get_user_model()._default_manager.filter(**{f"{field}__in": written_forms([phone])})[:2]
    )
    return users[0] if len(users) == 1 else None


def phone_field() -> str | None:
    """``PHONE_ATTRIBUTE`` when it is a concrete field of the user model, else None."""
    return user_column("PHONE_ATTRIBUTE")


def user_column(setting: str) -> str | None:
    """The user attribute that ``setting`` names (``PHONE_ATTRIBUTE``,
    ``EMAIL_ATTRIBUTE``) when it is a concrete field of the user model, else None: a
    property cannot be searched by a query."""
    attribute = get_setting(setting)
    concrete = {field.name for field in get_user_model()._meta.concrete_fields}
    return attribute if attribute in concrete else None


def written_forms(phones: list[str]) -> list[str]:
    """The ways a user's phone field may hold each E.164 number: as is, national
    (``07700 900102``, ``07700900102``), international (``+44 7700 900102``) and bare
    digits (``447700900102``). One list for the admin's search and the sender lookup."""
    forms: set[str] = set()
    for phone in phones:
        parsed = phonenumbers.parse(phone, None)
        national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
        international = phonenumbers.format_number(
            parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL
        )
        digits = phone.lstrip("+")
        forms |= {phone, national, national.replace(" ", ""), international, digits}
    return sorted(forms)


def normalise_phone(raw: str, region: str | None = None) -> str:
    """Return ``raw`` as an E.164 string (``+447700900123``), or raise.

    ``region`` (default: the ``DEFAULT_REGION`` setting) lets national-format numbers such
    as ``07700 900123`` be read; without it only ``+country`` numbers are accepted.
    Letters (``+44 7700 FLOWERS``) and extensions (``ext. 5``, ``x5``, ``;ext=5``) are
    refused: only digits, spaces and ``+ ( ) . / -`` make up a number here.
    """
    if not isinstance(raw, str):
        raise InvalidPhoneNumberError(f"A phone number must be a string, not {type(raw).__name__}.")
    if region is None:
        region = get_setting("DEFAULT_REGION")
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumberError(f"{raw!r} is not a phone number: {exc}") from exc
    if parsed.extension:
        raise InvalidPhoneNumberError(
            f"{raw!r} has an extension ({parsed.extension}); give the number alone"
        )
    stray = next((ch for ch in raw if not is_phone_character(ch)), None)
    if stray is not None:
        what = "letters" if stray.isalpha() else f"{stray!r}"
        raise InvalidPhoneNumberError(
            f"{raw!r} has {what}; a phone number is digits, spaces and + ( ) . / - only"
        )
    # "Possible" (a known country code and a length that country uses), not "valid":
    # phonenumbers' validity tables reject reserved ranges such as Ofcom's drama numbers
    # (+44 7700 900xxx) and Twilio's test numbers, which ChargeSol uses in demos and
    # tests. Whether a number is assigned is the gateway's to say (Twilio error 21211).
    if not phonenumbers.is_possible_number(parsed) or not raw.strip():
        raise InvalidPhoneNumberError(f"{raw!r} is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def is_phone_character(character: str) -> bool:
    """Whether ``character`` may appear in a written phone number (see PHONE_PUNCTUATION)."""
    return (
        character.isdecimal()
        or character in PHONE_PUNCTUATION
        # Spaces of every width (no-break, thin, ideographic), not tabs or line breaks.
        or unicodedata.category(character) == "Zs"
    )


def _as_callable(value: str | Callable[..., Any] | None) -> Callable[..., Any] | None:
    if value is None or callable(value):
        return value
    return imported(value)


@functools.lru_cache(maxsize=32)
def imported(dotted_path: str) -> Callable[..., Any]:
    """The object at ``dotted_path``: imported once, not once per message of a wave.
    A changed setting is another path, so nothing here goes stale."""
    target: Callable[..., Any] = import_string(dotted_path)
    return target
