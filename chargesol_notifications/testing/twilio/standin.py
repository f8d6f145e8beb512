"""``TwilioStandin``: the loopback Twilio that ChargeSol's tests (and yours) talk to.

The real ``twilio`` client, configured with :class:`~.http_client.StandinHttpClient`,
sends real HTTP to a server on 127.0.0.1 that answers like Twilio's 2010-04-01 API: it
checks every request against Twilio's OpenAPI description (recording a
:class:`~.records.SpecViolation` and answering Twilio's 400 when the real API would
refuse), creates messages and calls, lets tests queue failures (Twilio error bodies, 429,
5xx, slow answers, dropped connections) and builds the signed status callbacks Twilio
would send afterwards, and sends customers' messages to an incoming message URL
(:meth:`~.inbound.InboundMessages.send_inbound`). ``with TwilioStandin() as standin:``
runs one; the pytest fixture ``twilio_standin`` (see :mod:`.pytest_plugin`) also fails
the test on any violation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from twilio.rest import Client

from . import callbacks as cb
from . import spec
from .api import TwilioApi
from .errors import twilio_error
from .http_client import StandinHttpClient, register, unregister
from .inbound import InboundMessages
from .records import DeliveryFailure, Fault, RecordedCall, RecordedMessage, RecordedResource
from .resources import rfc2822
from .server import LoopbackServer

#: Credentials of a default stand-in; not secrets, just well-formed.
DEFAULT_ACCOUNT_SID = "AC" + "5eed" * 8
DEFAULT_AUTH_TOKEN = "70ce" * 8
#: Twilio's documented test number that accepts any message.
DEFAULT_FROM = "+15005550006"


class TwilioStandin(TwilioApi, InboundMessages):
    """A running loopback stand-in of Twilio's REST API.

    :param account_sid: the account the stand-in serves (``AC`` + 32 hex digits).
    :param auth_token: its auth token; also what status callbacks are signed with.
    :param api_keys: API key SID -> secret pairs accepted instead of the auth token.
    :param default_from: the sender a Messaging Service "picks" in status callbacks.
    :param host: the address to listen on (loopback).
    :param port: the port to listen on; 0 (the default) lets the OS pick a free one.
    :param latency: seconds every answer waits (the :attr:`latency` attribute, which can
        change while the stand-in runs); requests are served concurrently, each one late.
    """

    def __init__(
        self,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        *,
        api_keys: Mapping[str, str] | None = None,
        default_from: str = DEFAULT_FROM,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
    ) -> None:
        super().__init__(account_sid, auth_token, api_keys=api_keys, latency=latency)
        self.default_from = default_from
        self._server = LoopbackServer(self, host, port)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> TwilioStandin:
        """Start serving on a free port; the newest running stand-in serves dotted-path clients."""
        self._server.start()
        register(self)
        return self

    def stop(self) -> None:
        unregister(self)
        self._server.stop()

    def __enter__(self) -> TwilioStandin:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def host(self) -> str:
        return self._server.host

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def url(self) -> str:
        """Base URL of the loopback server, e.g. ``http://127.0.0.1:54321``."""
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server.running

    # -- wiring the real client -----------------------------------------------------------

    def http_client(self, **kwargs: Any) -> StandinHttpClient:
        """An ``HttpClient`` bound to this stand-in (``timeout=`` etc. as ``TwilioHttpClient``)."""
        return StandinHttpClient(self, **kwargs)

    def client(self, *, timeout: float | None = None, **kwargs: Any) -> Client:
        """A real ``twilio.rest.Client`` for this account that talks to the stand-in."""
        kwargs.setdefault("username", self.account_sid)
        kwargs.setdefault("password", self.auth_token)
        return Client(http_client=self.http_client(timeout=timeout), **kwargs)

    def backend_options(self, **options: Any) -> dict[str, Any]:
        """``OPTIONS`` for the app's Twilio backends, pointed at this stand-in.

        ``standin.backend_options(FROM="+15005550006")`` gives ``ACCOUNT_SID``,
        ``AUTH_TOKEN`` and ``HTTP_CLIENT`` (an instance bound to this stand-in), plus
        ``options``.
        """
        return {
            "ACCOUNT_SID": self.account_sid,
            "AUTH_TOKEN": self.auth_token,
            "HTTP_CLIENT": self.http_client(),
            **options,
        }

    # -- queuing failures -----------------------------------------------------------------

    def fail_next(
        self,
        code: int | None = None,
        *,
        status: int | None = None,
        message: str | None = None,
        times: int | None = 1,
        to: str | None = None,
        resource: str | None = None,
        delay: float = 0.0,
        body: str | None = None,
        operation: str = "create",
    ) -> None:
        """Answer the next matching create(s) with Twilio's error ``code``.

        ``fail_next(21211)``, ``fail_next(21610, to="+447700900123")``,
        ``fail_next(20429)`` (HTTP 429), ``fail_next(20500, status=503)``, or a bare
        ``fail_next(status=502, body="<html>Bad gateway</html>")`` for a non-JSON answer
        from a proxy. ``times=None`` fails every match; ``resource`` is ``"messages"`` or
        ``"calls"``; ``delay`` answers late. The message mentions the request's ``To``.
        Requests that break the spec are still answered as violations, not with the fault.
        ``operation="list"`` fails the Messages list instead (``to`` then matches its ``To``
        filter): ``fail_next(status=503, operation="list")``.
        """
        error = twilio_error(code, status=status, message=message, to="{to}", from_="{from_}")
        self.add_fault(
            Fault(
                remaining=times,
                to=to,
                resource=resource,
                status=error.status,
                body=None if body is not None else error.body(),
                raw_body=body,
                delay=delay,
                operation=_operation(operation),
            )
        )

    def slow_next(
        self,
        seconds: float,
        *,
        times: int | None = 1,
        to: str | None = None,
        resource: str | None = None,
    ) -> None:
        """Create normally but answer ``seconds`` late (to trigger client timeouts).

        The resource exists even if the client gave up, as with the real API.
        """
        self.add_fault(Fault(remaining=times, to=to, resource=resource, delay=seconds))

    def disconnect_next(
        self,
        *,
        times: int | None = 1,
        to: str | None = None,
        resource: str | None = None,
        operation: str = "create",
    ) -> None:
        """Drop the connection without answering (the client sees a connection error).

        Nothing is created: this is a request lost on its way to Twilio. For an answer
        lost on its way back, see :meth:`lose_next_response`.
        """
        self.add_fault(
            Fault(
                remaining=times,
                to=to,
                resource=resource,
                disconnect=True,
                operation=_operation(operation),
            )
        )

    def lose_next_response(
        self,
        *,
        times: int | None = 1,
        to: str | None = None,
        resource: str | None = None,
        delay: float = 0.0,
    ) -> None:
        """Accept the next matching create(s), then lose the answer.

        The message or call is created and stored, as Twilio would, but the HTTP answer is
        never delivered: after ``delay`` seconds the connection is dropped. The client
        sees a connection error, or its timeout when that is shorter than ``delay``; it
        cannot tell whether anything was created. (:meth:`disconnect_next` drops the
        request before anything is created; :meth:`slow_next` creates and answers late.)
        """
        self.add_fault(
            Fault(remaining=times, to=to, resource=resource, delay=delay, lose_response=True)
        )

    def fail_delivery(
        self,
        code: int = 63016,
        *,
        status: str = "undelivered",
        times: int | None = 1,
        to: str | None = None,
    ) -> None:
        """Accept the next matching message(s), which then end ``status`` with ``ErrorCode=code``.

        This is how Twilio reports most delivery problems (63016 outside WhatsApp's
        24-hour window, 30003 unreachable handset, ...): the create answers 201 and the
        failure arrives by status callback; :meth:`callbacks` then defaults to it.
        """
        if status not in ("failed", "undelivered"):
            raise ValueError("a delivery failure ends 'failed' or 'undelivered'")
        self.add_fault(
            Fault(
                remaining=times, to=to, resource="messages", delivery=DeliveryFailure(code, status)
            )
        )

    # -- status callbacks -----------------------------------------------------------------

    def sign(
        self, url: str, params: Mapping[str, str], *, method: str = "POST"
    ) -> cb.StatusCallback:
        """Any callback, signed with this account's auth token (e.g. for an unknown SID)."""
        return cb.sign(url, params, self.auth_token, method=method)

    def callbacks(
        self,
        sid: str,
        statuses: Sequence[str] | None = None,
        error_code: int | None = None,
        *,
        url: str | None = None,
        duration: int | None = None,
        answered_by: str | None = None,
        **extra: str | None,
    ) -> list[cb.StatusCallback]:
        """The signed status callbacks Twilio would send for message or call ``sid``.

        Messages default to ``["sent", "delivered"]`` (or to the failure queued with
        :meth:`fail_delivery`); ``failed``/``undelivered`` carry ``ErrorCode`` (``error_code``,
        else the queued one, else 30008). Calls default to the statuses of the call's
        ``StatusCallbackEvent`` (``answered`` -> ``in-progress``), else ``["completed"]``;
        ``duration`` is the ``CallDuration`` of a completed call and ``answered_by`` its
        ``AnsweredBy``. ``extra`` adds or overrides parameters in every callback (``None``
        removes one). ``url`` replaces the create's ``StatusCallback``. The stand-in's copy
        of the resource moves to the last status, so a later fetch agrees.
        """
        resource = self.get(sid)
        target = url or resource.status_callback
        if not target:
            raise ValueError(f"{sid} was created without StatusCallback; pass url=")
        if isinstance(resource, RecordedMessage):
            built = self._message_callbacks(resource, statuses, error_code)
            method = "POST"
        else:
            assert isinstance(resource, RecordedCall)
            built = self._call_callbacks(resource, statuses, error_code, duration, answered_by)
            method = resource.status_callback_method
        result = []
        for params in built:
            for name, value in extra.items():
                if value is None:
                    params.pop(name, None)
                else:
                    params[name] = value
            result.append(cb.sign(target, params, self.auth_token, method=method))
        return result

    def _message_callbacks(
        self, message: RecordedMessage, statuses: Sequence[str] | None, error_code: int | None
    ) -> list[dict[str, str]]:
        failure = message.delivery_failure
        if statuses is None:
            final = failure.status if failure else ("undelivered" if error_code else "delivered")
            statuses = [final] if final == "failed" else ["sent", final]
        _check_statuses(statuses, spec.schema("message_enum_status")["enum"])
        code = error_code if error_code is not None else (failure.error_code if failure else None)
        built = [cb.message_params(message, s, code, self.default_from) for s in statuses]
        self._advance(message, statuses[-1], error_code=built[-1].get("ErrorCode"))
        return built

    def _call_callbacks(
        self,
        call: RecordedCall,
        statuses: Sequence[str] | None,
        error_code: int | None,
        duration: int | None,
        answered_by: str | None,
    ) -> list[dict[str, str]]:
        if statuses is None:
            events = [e for e in cb.CALL_EVENT_STATUS if e in call.status_callback_events]
            statuses = [cb.CALL_EVENT_STATUS[e] for e in events] or ["completed"]
        _check_statuses(statuses, [*spec.schema("call_enum_status")["enum"], "initiated"])
        built = []
        with self._lock:
            for status in statuses:
                built.append(
                    cb.call_params(
                        call,
                        status,
                        call.callback_sequence,
                        duration=duration,
                        answered_by=answered_by,
                        error_code=error_code,
                    )
                )
                call.callback_sequence += 1
        last = built[-1]
        self._advance(
            call,
            statuses[-1] if statuses[-1] != "initiated" else "queued",
            duration=last.get("CallDuration"),
            answered_by=last.get("AnsweredBy"),
        )
        return built

    def _advance(self, resource: RecordedResource, status: str, **fields: Any) -> None:
        with self._lock:
            representation = resource.representation
            representation["status"] = status
            representation["date_updated"] = rfc2822(datetime.now(UTC))
            if isinstance(resource, RecordedMessage):
                code = fields.get("error_code")
                representation["error_code"] = int(code) if code else None
                if status in ("sent", "delivered", "read", "undelivered"):
                    representation["date_sent"] = (
                        representation["date_sent"] or representation["date_updated"]
                    )
            else:
                representation["duration"] = fields.get("duration") or representation["duration"]
                representation["answered_by"] = (
                    fields.get("answered_by") or representation["answered_by"]
                )


def _check_statuses(statuses: Iterable[str], allowed: Sequence[str]) -> None:
    unknown = [status for status in statuses if status not in allowed]
    if unknown or not statuses:
        raise ValueError(f"unknown status(es) {unknown}; Twilio uses {', '.join(allowed)}")


def _operation(operation: str) -> str:
    if operation not in ("create", "list"):
        raise ValueError(f"operation is 'create' or 'list', not {operation!r}")
    return operation
