"""Customers' messages as Twilio delivers them: the incoming message webhook's request.

When someone texts (or WhatsApps) a Twilio number, Twilio POSTs form parameters about the
message to the number's (or its Messaging Service's) incoming message URL, signed with
the account's auth token into ``X-Twilio-Signature``, and expects TwiML back.
:meth:`InboundMessages.inbound_message` builds that request
(:class:`~.callbacks.StatusCallback`: ``deliver(client)`` for Django's test ``Client``,
``deliver_http(base_url)`` for a live server) and :meth:`InboundMessages.send_inbound`
POSTs it over HTTP at once.

With ``advanced_opt_out=True`` the request carries ``OptOutType`` as a Messaging Service
with Twilio's Advanced Opt-Out sends it, read from the body with Twilio's default keywords:
including ``YES`` as an opt-in word.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import phonenumbers

from .callbacks import CallbackResponse, StatusCallback, sign
from .resources import API_VERSION, new_sid

#: Twilio's default keywords, matched against the whole body, trimmed, in any case.
OPT_OUT_KEYWORDS = {
    "STOP": frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}),
    "START": frozenset({"START", "YES", "UNSTOP"}),
    "HELP": frozenset({"HELP", "INFO"}),
}
WHATSAPP = "whatsapp:"


def opt_out_type(body: str) -> str | None:
    """``STOP``, ``START``, ``HELP`` or None: how Advanced Opt-Out reads ``body``."""
    word = body.strip().upper()
    return next((kind for kind, words in OPT_OUT_KEYWORDS.items() if word in words), None)


def country(address: str) -> str:
    """The ISO region of a phone address (``whatsapp:`` or not), or ``""``."""
    try:
        parsed = phonenumbers.parse(address.removeprefix(WHATSAPP))
    except phonenumbers.NumberParseException:
        return ""  # a short code has no country of its own
    region = phonenumbers.region_code_for_number(parsed)
    return region or phonenumbers.region_code_for_country_code(parsed.country_code) or ""


def inbound_params(
    account_sid: str,
    *,
    from_: str,
    to: str,
    body: str = "",
    media_urls: tuple[str, ...] = (),
    sid: str | None = None,
    messaging_service_sid: str | None = None,
    advanced_opt_out: bool = False,
    profile_name: str | None = None,
) -> dict[str, str]:
    """The form parameters of Twilio's request about one incoming message."""
    sid = sid or new_sid("MM" if media_urls else "SM")
    params = {
        "ToCountry": country(to),
        "ToState": "",
        "SmsMessageSid": sid,
        "NumMedia": str(len(media_urls)),
        "ToCity": "",
        "FromZip": "",
        "SmsSid": sid,
        "FromState": "",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": body,
        "FromCountry": country(from_),
        "To": to,
        "ToZip": "",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": account_sid,
        "From": from_,
        "ApiVersion": API_VERSION,
    }
    if from_.startswith(WHATSAPP):
        # WhatsApp carries who wrote, and no geography.
        for name in ("ToCountry", "ToState", "ToCity", "ToZip"):
            del params[name]
        for name in ("FromCountry", "FromState", "FromCity", "FromZip"):
            del params[name]
        params |= {
            "ProfileName": profile_name or "",
            "WaId": from_.removeprefix(WHATSAPP).lstrip("+"),
            "MessageType": "image" if media_urls else "text",
            "ReferralNumMedia": "0",
        }
    for index, url in enumerate(media_urls):
        params[f"MediaUrl{index}"] = url
        params[f"MediaContentType{index}"] = "image/jpeg"
    if messaging_service_sid:
        params["MessagingServiceSid"] = messaging_service_sid
    if advanced_opt_out and (kind := opt_out_type(body)):
        params["OptOutType"] = kind
    return params


class InboundMessages:
    """What a stand-in adds to send customers' messages (mixed into ``TwilioStandin``)."""

    account_sid: str
    auth_token: str

    def inbound_message(
        self,
        url: str,
        *,
        from_: str,
        to: str,
        body: str = "",
        media_urls: tuple[str, ...] = (),
        sid: str | None = None,
        messaging_service_sid: str | None = None,
        advanced_opt_out: bool = False,
        profile_name: str | None = None,
        **extra: str | None,
    ) -> StatusCallback:
        """Twilio's signed request to the incoming message ``url`` (the public URL, as
        configured in the Twilio console) about a message ``from_`` a customer ``to`` our
        number. WhatsApp addresses start with ``whatsapp:``. ``sid`` repeats an earlier
        message (a retried delivery); ``extra`` adds or overrides parameters (``None``
        removes one) before signing."""
        params = inbound_params(
            self.account_sid,
            from_=from_,
            to=to,
            body=body,
            media_urls=media_urls,
            sid=sid,
            messaging_service_sid=messaging_service_sid,
            advanced_opt_out=advanced_opt_out,
            profile_name=profile_name,
        )
        for name, value in extra.items():
            if value is None:
                params.pop(name, None)
            else:
                params[name] = value
        return sign(url, params, self.auth_token)

    def send_inbound(
        self,
        url: str,
        *,
        base_url: str | None = None,
        timeout: float = 10.0,
        **message: Any,
    ) -> CallbackResponse:
        """Build :meth:`inbound_message` (``from_``, ``to``, ``body`` and its other options
        go in ``message``) and POST it over HTTP: to ``url`` itself, or to the server at
        ``base_url`` (path and query kept, as behind a proxy). A 4xx/5xx answer is
        returned, not raised."""
        request = self.inbound_message(url, **message)
        parts = urlsplit(url)
        return request.deliver_http(base_url or f"{parts.scheme}://{parts.netloc}", timeout=timeout)
