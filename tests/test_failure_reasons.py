"""The sentences staff read for a failure's code."""

from __future__ import annotations

import pytest

from chargesol_notifications.failure_reasons import APP_CODES, failure_reason
from chargesol_notifications.twilio_codes import EXPLANATIONS


@pytest.mark.parametrize("code", sorted(EXPLANATIONS))
def test_twilio_codes_read_as_twilios_explanations(code):
    assert failure_reason(str(code), "raw") == EXPLANATIONS[code]


def test_the_apps_own_codes_read_as_sentences():
    assert failure_reason("no_address", "The recipient has no address for the sms channel.") == (
        "The customer has no address for this channel on their account."
    )


def test_every_anymail_reject_reason_has_a_sentence():
    anymail = pytest.importorskip("anymail.signals")
    reasons = {
        value
        for name, value in vars(anymail.RejectReason).items()
        if not name.startswith("_") and isinstance(value, str)
    }
    missing = {f"email_{reason}" for reason in reasons} - set(APP_CODES)
    assert not missing


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        ("SOMETHING_NEW", "The gateway said so.", "The gateway said so."),
        (None, "  Only a message.  ", "Only a message."),
        ("", "", ""),
        ("30003x", "raw words", "raw words"),
    ],
)
def test_an_unknown_code_falls_back_to_the_message(code, message, expected):
    assert failure_reason(code, message) == expected
