"""What the stand-in remembers: requests, created resources, violations, queued faults.

Tests read these to assert on what the code under test sent (``standin.messages[0].to``)
rather than on how it called the client, which keeps them valid across refactors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .validation import Problem


@dataclass
class RecordedRequest:
    """One HTTP request as the stand-in received it, and the status it answered."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str] = field(repr=False)
    params: Mapping[str, Sequence[str]]
    status: int = 0
    response: Any = field(default=None, repr=False)


@dataclass(frozen=True)
class SpecViolation:
    """A request Twilio's API would have rejected: a bug in the code under test."""

    request: RecordedRequest
    problems: tuple[Problem, ...]

    def __str__(self) -> str:
        reasons = "; ".join(str(problem) for problem in self.problems)
        return f"{self.request.method} {self.request.path}: {reasons}"


@dataclass(frozen=True)
class DeliveryFailure:
    """How a message accepted at create time ends: its final status and ``ErrorCode``."""

    error_code: int
    status: str = "undelivered"


@dataclass
class RecordedResource:
    """A Message or Call the stand-in created, with the parameters that created it.

    ``params`` maps each parameter to the list of its values, as form bodies allow
    repeats (``MediaUrl``, ``StatusCallbackEvent``); :meth:`param` reads a single one.
    ``representation`` is the JSON answered to the create (and to later fetches).
    """

    kind: ClassVar[str] = ""

    sid: str
    account_sid: str
    params: Mapping[str, Sequence[str]]
    representation: dict[str, Any]
    callback_sequence: int = field(default=0, repr=False)

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.params.get(name)
        return values[0] if values else default

    @property
    def to(self) -> str:
        return self.param("To") or ""

    @property
    def from_(self) -> str | None:
        return self.param("From")

    @property
    def status(self) -> str:
        return self.representation["status"]

    @property
    def status_callback(self) -> str | None:
        return self.param("StatusCallback")


@dataclass
class RecordedMessage(RecordedResource):
    """A message created through ``POST .../Messages.json``."""

    kind: ClassVar[str] = "messages"

    delivery_failure: DeliveryFailure | None = None

    @property
    def body(self) -> str:
        return self.param("Body") or ""

    @property
    def media_urls(self) -> list[str]:
        return list(self.params.get("MediaUrl", ()))

    @property
    def messaging_service_sid(self) -> str | None:
        return self.param("MessagingServiceSid")

    @property
    def is_whatsapp(self) -> bool:
        return self.to.startswith("whatsapp:")


@dataclass
class RecordedCall(RecordedResource):
    """A call created through ``POST .../Calls.json``."""

    kind: ClassVar[str] = "calls"

    @property
    def twiml(self) -> str | None:
        return self.param("Twiml")

    @property
    def url(self) -> str | None:
        return self.param("Url")

    @property
    def status_callback_events(self) -> list[str]:
        values = self.params.get("StatusCallbackEvent", ())
        return [token for value in values for token in value.replace(",", " ").split()]

    @property
    def status_callback_method(self) -> str:
        return self.param("StatusCallbackMethod") or "POST"

    @property
    def machine_detection(self) -> str | None:
        return self.param("MachineDetection")


@dataclass
class Fault:
    """A failure queued by a test for the next matching requests.

    ``remaining`` counts down per use; ``None`` means every matching request until
    :meth:`TwilioStandin.reset`. ``to``, ``resource`` and ``operation`` (``"create"``, or
    ``"list"`` for the Messages list, where ``to`` is its ``To`` filter) narrow which
    requests match. ``lose_response`` creates the resource, then drops the connection
    (after ``delay``) instead of answering.
    """

    remaining: int | None = 1
    to: str | None = None
    resource: str | None = None
    status: int | None = None
    body: dict[str, Any] | None = None
    raw_body: str | None = None
    delay: float = 0.0
    disconnect: bool = False
    delivery: DeliveryFailure | None = None
    operation: str = "create"
    lose_response: bool = False

    def matches(self, resource: str, to: str | None, operation: str = "create") -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.operation != operation:
            return False
        if self.resource is not None and self.resource != resource:
            return False
        return self.to is None or self.to == to

    def use(self) -> None:
        if self.remaining is not None:
            self.remaining -= 1
