"""Status callbacks as Twilio sends them: the form parameters, signed, ready to deliver.

Twilio POSTs (or, for calls with ``StatusCallbackMethod=GET``, GETs) form parameters to
the ``StatusCallback`` URL given at create time and signs them with the account's auth
token into ``X-Twilio-Signature`` (``RequestValidator.compute_signature(url, params)``).

Two URLs matter and are kept apart here: the **signed URL** is the public one Twilio was
given (``https://chargesol.example.com/notifications/twilio/message-status/?n=42``); the
**delivery target** is wherever the test's server listens (Django's test ``Client``, or
a live server at ``http://127.0.0.1:PORT``). Only the path and query are carried over.
"""

from __future__ import annotations

import math
import secrets
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlencode, urlsplit, urlunsplit

import phonenumbers
from twilio.request_validator import RequestValidator

from .records import RecordedCall, RecordedMessage
from .resources import API_VERSION, rfc2822

FORM = "application/x-www-form-urlencoded"
USER_AGENT = "TwilioProxy/1.1"

#: The ``ErrorCode`` Twilio reports when a carrier gives no reason ("Unknown error").
UNKNOWN_DELIVERY_ERROR = 30008

#: ``StatusCallbackEvent`` value -> the ``CallStatus`` of the callback it triggers.
CALL_EVENT_STATUS = {
    "initiated": "initiated",
    "ringing": "ringing",
    "answered": "in-progress",
    "completed": "completed",
}
_TERMINAL_CALL = {"completed", "busy", "no-answer", "failed", "canceled"}
_FAILED_MESSAGE = {"failed", "undelivered"}


@dataclass(frozen=True)
class CallbackResponse:
    """What the application answered to a callback delivered over real HTTP."""

    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class StatusCallback:
    """One signed request from Twilio to the application.

    ``url`` is the URL Twilio signs; :meth:`deliver` and :meth:`deliver_http` send the
    request to a test server, keeping only its path and query.
    """

    url: str
    params: Mapping[str, str]
    signature: str | None
    method: str = "POST"
    idempotency_token: str = field(default_factory=lambda: secrets.token_hex(16))

    @property
    def request_url(self) -> str:
        """The URL requested: ``url``, plus the parameters for a GET callback."""
        if self.method != "GET":
            return self.url
        parts = urlsplit(self.url)
        query = "&".join(filter(None, [parts.query, urlencode(self.params)]))
        return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))

    @property
    def path(self) -> str:
        """Path and query of :attr:`request_url`: what a test server receives."""
        parts = urlsplit(self.request_url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def body(self) -> bytes:
        return b"" if self.method == "GET" else urlencode(self.params).encode()

    def headers(self) -> dict[str, str]:
        """The HTTP headers Twilio sends with the callback."""
        headers = {"User-Agent": USER_AGENT, "I-Twilio-Idempotency-Token": self.idempotency_token}
        if self.signature is not None:
            headers["X-Twilio-Signature"] = self.signature
        if self.method != "GET":
            headers["Content-Type"] = FORM
        return headers

    def deliver(self, client: Any) -> Any:
        """Send through a Django test ``Client`` (or ``AsyncClient``); returns its response."""
        extra = {
            "HTTP_" + name.upper().replace("-", "_"): value
            for name, value in self.headers().items()
            if name != "Content-Type"
        }
        secure = urlsplit(self.url).scheme == "https"
        if self.method == "GET":
            return client.get(self.path, secure=secure, **extra)
        return client.post(
            self.path, data=self.body().decode(), content_type=FORM, secure=secure, **extra
        )

    def deliver_http(self, base_url: str, *, timeout: float = 10.0) -> CallbackResponse:
        """Send over real HTTP to ``base_url`` (e.g. ``live_server.url``).

        A 4xx/5xx answer is returned, not raised: negative tests assert on it.
        """
        request = urllib.request.Request(
            base_url.rstrip("/") + self.path,
            data=self.body() if self.method != "GET" else None,
            headers=self.headers(),
            method=self.method,
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=timeout) as response:
                return CallbackResponse(response.status, dict(response.headers), response.read())
        except HTTPError as error:
            return CallbackResponse(error.code, dict(error.headers), error.read())

    def forged(self, auth_token: str = "forged-" + "0" * 25) -> StatusCallback:
        """The same callback signed with another token, as an attacker would."""
        return sign(self.url, self.params, auth_token, method=self.method)

    def altered(self, **changes: str | None) -> StatusCallback:
        """A replay with a tampered body: parameters changed (``None`` removes), same signature."""
        params = dict(self.params)
        for name, value in changes.items():
            if value is None:
                params.pop(name, None)
            else:
                params[name] = value
        return replace(self, params=params)

    def unsigned(self) -> StatusCallback:
        """The callback without ``X-Twilio-Signature``."""
        return replace(self, signature=None)


def sign(
    url: str, params: Mapping[str, str], auth_token: str, *, method: str = "POST"
) -> StatusCallback:
    """Sign ``params`` for ``url`` as Twilio does (GET: the full URL with its query)."""
    validator = RequestValidator(auth_token)
    unsigned = StatusCallback(url, dict(params), None, method.upper())
    if unsigned.method == "GET":
        signature = validator.compute_signature(unsigned.request_url, {})
    else:
        signature = validator.compute_signature(url, dict(params))
    return replace(unsigned, signature=signature)


def _region(address: str) -> str:
    number = address.removeprefix("whatsapp:")
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return ""  # a client: or sip: address has no country
    # Fictional numbers (Ofcom's 07700 900xxx) still belong to their country code's region.
    region = phonenumbers.region_code_for_number(parsed)
    return region or phonenumbers.region_code_for_country_code(parsed.country_code)


def message_params(
    message: RecordedMessage, status: str, error_code: int | None, sender: str
) -> dict[str, str]:
    """The form parameters of a message status callback for ``status``."""
    params = {
        "SmsSid": message.sid,
        "SmsStatus": status,
        "MessageStatus": status,
        "To": message.to,
        "MessageSid": message.sid,
        "AccountSid": message.account_sid,
        "From": message.from_ or sender,
        "ApiVersion": API_VERSION,
    }
    if message.messaging_service_sid:
        params["MessagingServiceSid"] = message.messaging_service_sid
    if message.is_whatsapp:
        params |= {
            "ChannelPrefix": "whatsapp",
            "ChannelInstallSid": "XE" + message.sid[2:],
            "ChannelToAddress": message.to.removeprefix("whatsapp:"),
            "StructuredMessage": "false",
        }
        if status in ("delivered", "read"):
            params["EventType"] = status.upper()
    elif status == "delivered":
        params["RawDlrDoneDate"] = datetime.now(UTC).strftime("%y%m%d%H%M")
    if status in _FAILED_MESSAGE:
        params["ErrorCode"] = str(error_code or UNKNOWN_DELIVERY_ERROR)
    return params


def call_params(
    call: RecordedCall,
    status: str,
    sequence: int,
    *,
    duration: int | None,
    answered_by: str | None,
    error_code: int | None,
) -> dict[str, str]:
    """The form parameters of a voice status callback for ``status``."""
    to, caller = call.to, call.from_ or ""
    to_region, from_region = _region(to), _region(caller)
    params = {
        "AccountSid": call.account_sid,
        "ApiVersion": API_VERSION,
        "CallSid": call.sid,
        "CallStatus": status,
        "CallbackSource": "call-progress-events",
        "Called": to,
        "CalledCity": "",
        "CalledCountry": to_region,
        "CalledState": "",
        "CalledZip": "",
        "Caller": caller,
        "CallerCity": "",
        "CallerCountry": from_region,
        "CallerState": "",
        "CallerZip": "",
        "Direction": "outbound-api",
        "From": caller,
        "FromCity": "",
        "FromCountry": from_region,
        "FromState": "",
        "FromZip": "",
        "SequenceNumber": str(sequence),
        "Timestamp": rfc2822(datetime.now(UTC)),
        "To": to,
        "ToCity": "",
        "ToCountry": to_region,
        "ToState": "",
        "ToZip": "",
    }
    if status in _TERMINAL_CALL:
        seconds = duration if status == "completed" and duration is not None else 0
        params["CallDuration"] = str(seconds)
        params["Duration"] = str(math.ceil(seconds / 60))
        params["SipResponseCode"] = {"completed": "200", "busy": "486", "no-answer": "487"}.get(
            status, "500"
        )
    if call.machine_detection and status in ("in-progress", "completed"):
        params["AnsweredBy"] = answered_by or "human"
    elif answered_by:
        params["AnsweredBy"] = answered_by
    if status == "failed" and error_code is not None:
        params["ErrorCode"] = str(error_code)
    return params
