"""The loop every Twilio webhook shares: validate the signature, read, handle.

Subclasses fill in :meth:`TwilioWebhookView.handle`, which receives the POSTed form and
the query of the signed URL. It reads every value it uses through a declared
:class:`Param` (a name and the rule its value must follow), so a payload it cannot read
raises :class:`MalformedWebhookError` before anything is looked up or written. The base view
owns the answers:

- 403 when ``X-Twilio-Signature`` does not match, before anything is read or written;
- 400 for a :class:`MalformedWebhookError` (or a body Django itself refuses to parse);
- 500 for anything unexpected, logged with its traceback and announced through
  ``got_request_exception`` like any unhandled error.

Error answers are short fixed ``text/plain`` messages: they never echo the request, and
the details go to the ``chargesol_notifications.webhooks`` logger.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import BadRequest, SuspiciousOperation
from django.core.signals import got_request_exception
from django.http import HttpRequest, HttpResponse, QueryDict
from django.http.multipartparser import MultiPartParserError
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from twilio.request_validator import RequestValidator

from ..backends import backends
from ..choices import Channel
from ..conf import get_setting
from ..exceptions import MalformedWebhookError, WebhookValidationError

logger = logging.getLogger("chargesol_notifications.webhooks")

T = TypeVar("T")

#: A Twilio resource SID: two capital letters naming the kind (``SM``, ``MM``, ``CA``...)
#: and 32 hexadecimal digits.
TWILIO_SID = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")
#: ASCII digits only: ``str.isdigit()`` also accepts ``²`` and other Unicode digits.
ASCII_DIGITS = re.compile(r"[0-9]+")
#: The largest value of an ``IntegerField`` on every supported database.
INT32_MAX = 2**31 - 1

#: The fixed bodies of error answers; the details go to the log, never to the caller.
FORBIDDEN_TEXT = "Invalid Twilio signature."
MALFORMED_TEXT = "Malformed webhook request."
FAILED_TEXT = "The webhook could not be processed."


def shown(value: str, limit: int = 40) -> str:
    """``value`` quoted for a log line, cut short: a hostile field can be megabytes long."""
    return repr(value[:limit] + "…") if len(value) > limit else repr(value)


@dataclass(frozen=True)
class Param(Generic[T]):
    """One parameter of a webhook request and the rule its value must follow.

    The value is refused (:class:`MalformedWebhookError`, so HTTP 400) when the parameter is
    given more than once, contains a NUL character (PostgreSQL cannot store one), is
    longer than ``max_length`` (unless ``truncate``, which cuts it to ``max_length``),
    does not match ``pattern`` in full, is not one of ``choices``, or does not
    :meth:`convert`. An absent or empty parameter reads as ``None``.
    """

    name: str
    max_length: int = 100
    pattern: re.Pattern[str] | None = None
    choices: frozenset[str] | None = None
    truncate: bool = False

    def read(self, data: QueryDict) -> T | None:
        """The checked value of the parameter in ``data``, or ``None`` when it is absent."""
        values = data.getlist(self.name)
        if len(values) > 1:
            raise MalformedWebhookError(f"{self.name} is given {len(values)} times.")
        value = str(values[0]) if values else ""
        if not value:
            return None
        if "\x00" in value:
            raise MalformedWebhookError(f"{self.name} contains a NUL character.")
        if len(value) > self.max_length:
            if not self.truncate:
                raise MalformedWebhookError(
                    f"{self.name} is {len(value)} characters long; at most "
                    f"{self.max_length} are accepted."
                )
            value = value[: self.max_length]
        if self.pattern is not None and not self.pattern.fullmatch(value):
            raise MalformedWebhookError(f"{self.name} {shown(value)} is not in the expected form.")
        if self.choices is not None and value not in self.choices:
            raise MalformedWebhookError(
                f"{self.name} {shown(value)} is not one of the known values."
            )
        return self.convert(value)

    def require(self, data: QueryDict) -> T:
        """Like :meth:`read`, but an absent or empty parameter is refused too."""
        value = self.read(data)
        if value is None:
            raise MalformedWebhookError(f"{self.name} is missing.")
        return value

    def convert(self, value: str) -> T:
        """The checked text as the type the view uses; ``MalformedWebhookError`` if it isn't."""
        raise NotImplementedError(f"{type(self).__name__} must implement convert().")


@dataclass(frozen=True)
class TextParam(Param[str]):
    """A text parameter, used as it came."""

    def convert(self, value: str) -> str:
        return value


@dataclass(frozen=True)
class IntegerParam(Param[int]):
    """A count in ASCII digits, from 0 up to ``maximum`` (by default what an IntegerField holds)."""

    max_length: int = len(str(INT32_MAX))
    pattern: re.Pattern[str] | None = ASCII_DIGITS
    maximum: int = INT32_MAX

    def convert(self, value: str) -> int:
        number = int(value)
        if number > self.maximum:
            raise MalformedWebhookError(f"{self.name} {shown(value)} is more than {self.maximum}.")
        return number


@dataclass(frozen=True)
class UUIDParam(Param[uuid.UUID]):
    """A UUID, in any of the spellings ``uuid.UUID`` reads (the longest is ``urn:uuid:...``)."""

    max_length: int = 45

    def convert(self, value: str) -> uuid.UUID:
        try:
            return uuid.UUID(value)
        except ValueError as exc:
            raise MalformedWebhookError(f"{self.name} {shown(value)} is not a UUID.") from exc


def twilio_auth_tokens() -> list[str]:
    """The auth tokens of the configured Twilio backends: Twilio signs with these."""
    tokens: list[str] = []
    for channel in (Channel.SMS, Channel.WHATSAPP, Channel.CALL):
        token = getattr(backends[channel], "auth_token", "")
        if token and token not in tokens:
            tokens.append(token)
    return tokens


def public_url(request: HttpRequest) -> str:
    """The URL Twilio called, as Twilio saw it: ``WEBHOOK_BASE_URL`` + path + query.

    Behind TLS termination or a proxy the request Django sees has another scheme, host
    or port than the one Twilio signed, so the host part comes from the setting.
    """
    base = (get_setting("WEBHOOK_BASE_URL") or "").rstrip("/")
    return f"{base}{request.get_full_path()}"


def validate_signature(request: HttpRequest) -> None:
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        raise WebhookValidationError("The request has no X-Twilio-Signature.")
    url = public_url(request)
    params = request.POST
    for token in twilio_auth_tokens():
        if RequestValidator(token).validate(url, params, signature):
            return
    raise WebhookValidationError(f"The X-Twilio-Signature does not match {url}.")


def plain_response(status: int, text: str) -> HttpResponse:
    """A short fixed message as ``text/plain``: what every error answer of a webhook is."""
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(login_not_required, name="dispatch")
class TwilioWebhookView(View):
    """POST-only, signature-checked: the shape of every Twilio webhook.

    CSRF-exempt and ``login_not_required`` (so ``LoginRequiredMiddleware`` lets Twilio
    in): the signature is what protects these views.
    """

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            validate_signature(request)
            return self.handle(request.POST, request.GET)
        except WebhookValidationError as exc:
            logger.warning("Rejected %s: %s", request.path, exc)
            return plain_response(403, FORBIDDEN_TEXT)
        except MalformedWebhookError as exc:
            logger.warning("Malformed %s: %s", request.path, exc)
            return plain_response(400, MALFORMED_TEXT)
        except (SuspiciousOperation, BadRequest, MultiPartParserError) as exc:
            # A body Django refuses to parse (too big, too many fields, broken multipart).
            logger.warning("Unreadable %s: %s: %s", request.path, type(exc).__name__, exc)
            return plain_response(400, MALFORMED_TEXT)
        except Exception:
            # Whatever it was, its message may quote the payload: log it, tell error
            # reporters as Django would, and answer with a fixed text (even with DEBUG on).
            logger.exception("Failed %s", request.path)
            got_request_exception.send(sender=type(self), request=request)
            return plain_response(500, FAILED_TEXT)

    def handle(self, form: QueryDict, query: QueryDict) -> HttpResponse:
        raise NotImplementedError(f"{type(self).__name__} must implement handle().")
