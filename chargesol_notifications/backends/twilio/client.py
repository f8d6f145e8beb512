"""What every Twilio backend shares: credentials, the ``twilio`` client, system checks."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.core import checks
from django.utils.module_loading import import_string
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from .. import channel_setting_name
from .errors import classify

T = TypeVar("T")

ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
MESSAGING_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")

#: Seconds to wait for Twilio's answer when no HTTP_CLIENT is given (twilio's own client
#: waits forever by default, which would hold a worker and the notification's row lock).
DEFAULT_TIMEOUT = 15.0


class TwilioClientMixin:
    """Options and client of a Twilio backend (``ACCOUNT_SID``, ``AUTH_TOKEN``, ...).

    ``API_KEY_SID``/``API_KEY_SECRET`` authenticate the REST calls instead of the auth
    token when given; ``AUTH_TOKEN`` is still needed, because Twilio signs its webhooks
    with it. ``HTTP_CLIENT`` is a ``twilio.http.HttpClient`` or a dotted path to a class
    built with no arguments (a proxy, custom timeouts, or a test stand-in of the API).
    """

    channel: str
    twilio_option_names = frozenset(
        {
            "ACCOUNT_SID",
            "AUTH_TOKEN",
            "API_KEY_SID",
            "API_KEY_SECRET",
            "FROM",
            "MESSAGING_SERVICE_SID",
            "HTTP_CLIENT",
            "TIMEOUT",
        }
    )

    def configure_twilio(self, options: dict[str, Any]) -> None:
        self.account_sid: str = options.get("ACCOUNT_SID") or ""
        self.auth_token: str = options.get("AUTH_TOKEN") or ""
        self.api_key_sid: str = options.get("API_KEY_SID") or ""
        self.api_key_secret: str = options.get("API_KEY_SECRET") or ""
        self.from_: str = options.get("FROM") or ""
        self.messaging_service_sid: str = options.get("MESSAGING_SERVICE_SID") or ""
        self.http_client_option: HttpClient | str | None = options.get("HTTP_CLIENT")
        self.timeout_option: float | None = options.get("TIMEOUT")
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        """The ``twilio`` REST client, built on first use."""
        if self._client is None:
            self._client = Client(
                username=self.api_key_sid or self.account_sid,
                password=self.api_key_secret or self.auth_token,
                account_sid=self.account_sid,
                http_client=self.build_http_client(),
            )
        return self._client

    def build_http_client(self) -> HttpClient:
        option = self.http_client_option
        if option is None:
            return TwilioHttpClient(timeout=self.timeout_option or DEFAULT_TIMEOUT)
        if not isinstance(option, str):
            return option
        http_client = import_string(option)()
        # A class named by path is built without arguments; TIMEOUT still applies to it.
        if self.timeout_option is not None and hasattr(http_client, "timeout"):
            http_client.timeout = float(self.timeout_option)
        return http_client

    def call_twilio(self, request: Callable[[], T]) -> T:
        """Run one API call, turning its failures into delivery errors."""
        try:
            return request()
        except Exception as exc:
            raise classify(exc) from exc

    def close(self) -> None:
        self._client = None

    # -- system checks --------------------------------------------------------------------

    def check_twilio(self, *, needs_from: bool) -> Iterable[checks.CheckMessage]:
        def setting(key: str) -> str:
            return channel_setting_name(self.channel, "OPTIONS", key)

        tag = "chargesol_notifications"
        if not ACCOUNT_SID.match(self.account_sid):
            yield checks.Error(
                f"{setting('ACCOUNT_SID')} is missing or is not an account SID (AC...).",
                id=f"{tag}.E020",
            )
        if not self.auth_token:
            yield checks.Error(
                f"{setting('AUTH_TOKEN')} is missing; it authenticates API calls and "
                "validates Twilio's webhook signatures.",
                id=f"{tag}.E021",
            )
        if bool(self.api_key_sid) != bool(self.api_key_secret):
            yield checks.Error(
                f"{setting('API_KEY_SID')} and {setting('API_KEY_SECRET')} go together.",
                id=f"{tag}.E022",
            )
        if needs_from and not self.from_:
            yield checks.Error(f"{setting('FROM')} is missing.", id=f"{tag}.E023")
        elif not needs_from and not (self.from_ or self.messaging_service_sid):
            yield checks.Error(
                f"Set {setting('FROM')} or {setting('MESSAGING_SERVICE_SID')}.", id=f"{tag}.E023"
            )
        if self.messaging_service_sid and not MESSAGING_SERVICE_SID.match(
            self.messaging_service_sid
        ):
            yield checks.Error(
                f"{setting('MESSAGING_SERVICE_SID')} is not a Messaging Service SID (MG...).",
                id=f"{tag}.E024",
            )
