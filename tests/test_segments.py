"""SMS segment counting: GSM-7 160/153, UCS-2 70/67, two-slot characters never split."""

from __future__ import annotations

import pytest

from chargesol_notifications.segments import count_segments

CASES = {
    "empty": ("", "GSM-7", 0, 0),
    "one GSM-7 segment": ("a" * 160, "GSM-7", 160, 1),
    "two GSM-7 segments": ("a" * 161, "GSM-7", 161, 2),
    "exactly two parts": ("a" * 306, "GSM-7", 306, 2),
    "three parts": ("a" * 307, "GSM-7", 307, 3),
    "extension characters count twice": ("€" * 80, "GSM-7", 160, 1),
    "an escape is not split across parts": ("a" * 152 + "€" + "a" * 10, "GSM-7", 164, 2),
    "pound and accents stay GSM-7": ("£5 for O'Brien & Sons, café", "GSM-7", 27, 1),
    "one UCS-2 segment": ("ł" * 70, "UCS-2", 70, 1),
    "two UCS-2 segments": ("ł" * 71, "UCS-2", 71, 2),
    "emoji are two UTF-16 units": ("⚡🔋" * 20, "UCS-2", 60, 1),
    "a surrogate pair is not split": ("ł" * 66 + "🔋" + "ł" * 5, "UCS-2", 73, 2),
    "Twilio's limit of 1,600 GSM-7 characters": ("a" * 1600, "GSM-7", 1600, 11),
}


@pytest.mark.parametrize(
    ("body", "encoding", "units", "segments"), list(CASES.values()), ids=list(CASES)
)
def test_count_segments(body, encoding, units, segments):
    result = count_segments(body)
    assert (result.encoding, result.units, result.segments) == (encoding, units, segments)


def test_sent_messages_carry_their_segment_count_for_signal_receivers():
    import uuid

    from chargesol_notifications.backends.base import OutgoingMessage

    message = OutgoingMessage(uuid.uuid4(), "sms", "+447700900123", body="€" * 81)
    assert message.segments.segments == 2
