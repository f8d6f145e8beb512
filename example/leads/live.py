"""The demo's live part: the whole Twilio loop on one machine.

Messages go through the app's real Twilio backends and the real ``twilio`` client to the
loopback stand-in of Twilio's API that ships with the app; the stand-in then calls the
running demo server back with signed status callbacks, as Twilio would, and the receipts
and call outcomes appear in the admin. Nothing leaves the machine.
"""

from __future__ import annotations

import time
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

from django.db import connections
from django.urls import reverse

from chargesol_notifications import notify, notify_many, place_call
from chargesol_notifications.recipients import normalise_phone
from chargesol_notifications.testing.twilio import TwilioStandin

from .seed import DemoPeople

SMS_FROM = "+15005550006"
WHATSAPP_FROM = "whatsapp:+14155238886"
TWILIO = "chargesol_notifications.backends.twilio"


def standin_settings(
    base: dict[str, Any], standin: TwilioStandin, server_url: str
) -> dict[str, Any]:
    """``CHARGESOL_NOTIFICATIONS`` with SMS, WhatsApp and calls through the stand-in."""
    channels = dict(base.get("CHANNELS", {}))
    channels["sms"] = {
        "BACKEND": f"{TWILIO}.SmsBackend",
        "OPTIONS": standin.backend_options(FROM=SMS_FROM),
    }
    channels["whatsapp"] = {
        "BACKEND": f"{TWILIO}.WhatsAppBackend",
        "OPTIONS": standin.backend_options(FROM=WHATSAPP_FROM),
    }
    channels["call"] = {
        "BACKEND": f"{TWILIO}.CallBackend",
        "OPTIONS": standin.backend_options(FROM=SMS_FROM),
    }
    return {**base, "CHANNELS": channels, "WEBHOOK_BASE_URL": server_url}


class DemoTraffic:
    """Sends notifications once the demo server is up; subclasses say which."""

    def __init__(self, server_url: str, people: DemoPeople, write: Callable[[str], None]) -> None:
        self.server_url = server_url
        self.people = people
        self.write = write

    def run(self) -> None:
        try:
            self.wait_for_server()
            self.play()
            self.write(f"Live traffic done: {self.summary()}")
        finally:
            connections.close_all()

    def wait_for_server(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.server_url}/admin/login/", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.server_url} did not come up")

    def play(self) -> None:
        raise NotImplementedError

    def summary(self) -> str:
        raise NotImplementedError


class ConsoleTraffic(DemoTraffic):
    """One notification on every channel and a click-to-call, printed by the console
    backends (and Django's console mail backend for email)."""

    def play(self) -> None:
        customers, leads, staff = self.people.customers, self.people.leads, self.people.staff
        self.write("Live: one notification on every channel, through the console backends")
        notify(
            customers[0],
            "sms",
            template="survey_confirmation_sms",
            context={"survey": self.people.surveys[0]},
            context_type="survey",
            context_id=self.people.surveys[0].pk,
        )
        notify(
            customers[1],
            "email",
            template="installation_reminder_email",
            context={"lead": leads[1], "installation_date": "Friday 5 December"},
            context_type="installation",
            context_id=leads[1].pk,
        )
        notify(
            customers[1],
            "whatsapp",
            template="survey_reminder_whatsapp",
            context={"survey": self.people.surveys[1]},
            context_type="survey",
        )
        notify(
            customers[2],
            "push",
            template="installation_update_push",
            context={"installation_date": "Monday 8 December"},
            context_type="installation",
        )
        notify(
            customers[3],
            "call",
            body="This is ChargeSol. Your survey is tomorrow.",
            context_type="survey",
            context_id=self.people.surveys[3].pk,
        )
        place_call(
            caller=staff,
            callee_phone=customers[4].phone,
            call_type="introductory",
            context_type="lead",
            context_id=leads[4].pk,
        )

    def summary(self) -> str:
        return "five notifications and a click-to-call, printed above."


class LiveTraffic(DemoTraffic):
    """Sends a handful of notifications and a click-to-call, then plays Twilio's part."""

    def __init__(
        self,
        standin: TwilioStandin,
        server_url: str,
        people: DemoPeople,
        write: Callable[[str], None],
        pause: float = 1.5,
    ) -> None:
        super().__init__(server_url, people, write)
        self.standin = standin
        #: Seconds between callbacks, so the admin can be watched changing.
        self.pause = pause
        self.callbacks_sent = 0
        self.replies_sent = 0

    def summary(self) -> str:
        return (
            f"{len(self.standin.messages)} messages and {len(self.standin.calls)} calls "
            f"through the Twilio stand-in, {self.callbacks_sent} status callbacks and "
            f"{self.replies_sent} customer replies answered by this server."
        )

    def play(self) -> None:
        customers, surveys, staff = self.people.customers, self.people.surveys, self.people.staff
        run = uuid.uuid4().hex[:8]  # every run of the demo sends afresh

        self.write("Live: survey confirmation by SMS (sent, then delivered)")
        notify(
            customers[0],
            "sms",
            template="survey_confirmation_sms",
            context={"survey": surveys[0]},
            context_type="survey",
            context_id=surveys[0].pk,
            idempotency_key=f"live-{run}-survey",
        )
        self.report_last_message(["sent", "delivered"])
        self.write(f"Live: {customers[0].first_name} replies YES to the survey confirmation")
        self.reply(customers[0].phone, SMS_FROM, "YES")

        self.write("Live: WhatsApp reminder (sent, delivered, read)")
        notify(
            customers[1],
            "whatsapp",
            template="survey_reminder_whatsapp",
            context={"survey": surveys[1]},
            context_type="survey",
            context_id=surveys[1].pk,
        )
        self.report_last_message(["sent", "delivered", "read"])
        self.write(f"Live: {customers[1].first_name} replies STOP to the WhatsApp reminder")
        self.reply(f"whatsapp:{normalise_phone(customers[1].phone)}", WHATSAPP_FROM, "STOP")

        self.write("Live: free-form WhatsApp outside the 24-hour window (Twilio error 63016)")
        self.standin.fail_next(code=63016)
        notify(
            customers[4],
            "whatsapp",
            body="Are you still interested in a charger?",
            context_type="lead",
            context_id=self.people.leads[4].pk,
        )

        self.write(
            "Live: outage alert to every customer (one handset unreachable, one without a phone)"
        )
        before = len(self.standin.messages)
        notify_many(
            customers,
            "sms",
            template="emergency_outage_sms",
            context={"area": "Bristol"},
            context_type="emergency",
        )
        outage = self.standin.messages[before:]
        for message in outage[:-1]:
            self.report(message.sid, ["sent", "delivered"])
        self.report(outage[-1].sid, ["sent", "undelivered"], error_code=30003)

        self.write("Live: spoken installation reminder by phone (answered, completed)")
        notify(
            customers[2],
            "call",
            body="This is ChargeSol. Your charger installation is tomorrow at ten.",
            context_type="installation",
            context_id=self.people.leads[2].pk,
        )
        self.report(
            self.standin.calls[-1].sid,
            ["initiated", "ringing", "in-progress", "completed"],
            duration=14,
            answered_by="human",
        )

        self.write("Live: click-to-call from staff to a customer (connected, 74 s)")
        place_call(
            caller=staff,
            callee_phone=customers[3].phone,
            call_type="survey_confirmation",
            context_type="survey",
            context_id=surveys[3].pk,
        )
        call = self.standin.calls[-1]
        self.report(call.sid, ["initiated", "ringing"])
        self.answer(call.sid, call.url)
        self.report(call.sid, ["in-progress", "completed"], duration=74, answered_by="human")

    def answer(self, sid: str, answer_url: str) -> None:
        """Play Twilio asking the answer URL what to do once a person picked up."""
        params = {
            "AccountSid": self.standin.account_sid,
            "CallSid": sid,
            "CallStatus": "in-progress",
            "AnsweredBy": "human",
            "Direction": "outbound-api",
        }
        time.sleep(self.pause)
        response = self.standin.sign(answer_url, params).deliver_http(self.server_url)
        self.callbacks_sent += 1
        twiml = response.body.decode()
        self.write(f"  Twilio -> answer URL: HTTP {response.status}, TwiML {twiml}")

    def reply(self, from_: str, to: str, body: str) -> None:
        """Play a customer texting back: Twilio's signed request to the incoming message URL."""
        if not from_.startswith("whatsapp:"):
            from_ = normalise_phone(from_)
        path = reverse("chargesol_notifications:twilio-inbound-message")
        time.sleep(self.pause)
        response = self.standin.send_inbound(
            f"{self.server_url}{path}", from_=from_, to=to, body=body
        )
        self.replies_sent += 1
        twiml = response.body.decode()
        self.write(f"  {from_} -> {path} {body!r}: HTTP {response.status}, TwiML {twiml}")

    def report_last_message(self, statuses: list[str]) -> None:
        self.report(self.standin.messages[-1].sid, statuses)

    def report(self, sid: str, statuses: list[str], **details: Any) -> None:
        """Play Twilio: post each signed status callback to the running server."""
        for callback in self.standin.callbacks(sid, statuses, **details):
            time.sleep(self.pause)
            response = callback.deliver_http(self.server_url)
            self.callbacks_sent += 1
            status = callback.params.get("MessageStatus") or callback.params.get("CallStatus")
            path = callback.path.split("?")[0]
            self.write(f"  Twilio -> {path} {sid[:10]}… {status}: HTTP {response.status}")
