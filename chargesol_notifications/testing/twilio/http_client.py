"""A ``twilio.http.HttpClient`` that sends the real client's requests to the stand-in.

``StandinHttpClient`` is ``twilio-python``'s own ``TwilioHttpClient`` (``requests``
session, timeouts, logging, hooks) with one change: a request for ``https://*.twilio.com``
goes to the running stand-in's ``http://127.0.0.1:<port>`` instead, path and query kept.
Anything else is refused, so a test can never reach the real Twilio by accident.

It can be given a stand-in, or the URL of a stand-in running in another process (``python
-m chargesol_notifications.testing.twilio`` beside ``runserver``), or built with no
arguments (as the app's ``HTTP_CLIENT`` option does with a dotted path); then each request
goes to the most recently started stand-in that is still running, found in a module-level
registry.
"""

from __future__ import annotations

import ipaddress
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response

if TYPE_CHECKING:
    from .standin import TwilioStandin

_running: list[TwilioStandin] = []
_running_lock = threading.Lock()

#: Environment proxies must not capture loopback traffic.
_NO_PROXY = {"http": None, "https": None}


def register(standin: TwilioStandin) -> None:
    """Record ``standin`` as running; the newest one serves client-less lookups."""
    with _running_lock:
        _running.append(standin)


def unregister(standin: TwilioStandin) -> None:
    with _running_lock:
        if standin in _running:
            _running.remove(standin)


def current_standin() -> TwilioStandin:
    """The most recently started stand-in that is still running."""
    with _running_lock:
        if _running:
            return _running[-1]
    raise RuntimeError(
        "No Twilio stand-in is running. Start one (the `twilio_standin` fixture, or "
        "`with TwilioStandin():`) before the code under test talks to Twilio."
    )


class StandinHttpClient(TwilioHttpClient):
    """``TwilioHttpClient`` pointed at a loopback Twilio stand-in.

    :param standin: the stand-in to talk to; ``None`` means whichever is running when a
        request is made (so the class works as a dotted path in settings).
    :param url: instead of ``standin``, the base URL of a stand-in served by another
        process on this machine (``http://127.0.0.1:8010``); only loopback addresses.
    :param kwargs: passed to ``TwilioHttpClient`` (``timeout``, ``pool_connections``,
        ``request_hooks``, ``logger``, ``max_retries``).
    """

    def __init__(
        self, standin: TwilioStandin | None = None, *, url: str | None = None, **kwargs: Any
    ) -> None:
        if standin is not None and url is not None:
            raise TypeError("give StandinHttpClient a stand-in or a URL, not both")
        kwargs.setdefault("proxy", dict(_NO_PROXY))
        super().__init__(**kwargs)
        self.standin = standin
        self.url = _loopback_origin(url) if url is not None else None

    def target(self) -> TwilioStandin:
        """The in-process stand-in requests go to now (when not given a ``url``)."""
        return self.standin if self.standin is not None else current_standin()

    def origin(self) -> str:
        """``scheme://host:port`` of the stand-in that requests go to now."""
        if self.url is not None:
            return self.url
        return self.target().url

    def rewrite(self, url: str) -> str:
        """Map a Twilio API URL onto the stand-in's loopback address."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if host != "twilio.com" and not host.endswith(".twilio.com"):
            raise ValueError(f"StandinHttpClient only sends to Twilio's API, not to {url}")
        origin = urlsplit(self.origin())
        return urlunsplit((origin.scheme, origin.netloc, parts.path, parts.query, ""))

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        return super().request(
            method,
            self.rewrite(url),
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )


def _loopback_origin(url: str) -> str:
    """``http://host:port`` of ``url``; anything but a loopback http URL is refused."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.port or not is_loopback(parts.hostname or ""):
        raise ValueError(
            f"{url!r} is not a stand-in's address: give http://127.0.0.1:<port> (loopback only)"
        )
    return f"http://{parts.netloc}"


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine's loopback interface."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
