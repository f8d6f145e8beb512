"""SMS segment counting: GSM-7 160/153, UCS-2 70/67, two-slot characters never split."""

from __future__ import annotations

import pytest

from chargesol_notifications.segments import count_segments

# Twilio's rule (its segment calculator): GSM-7 carries 160 septets in one SMS and 153 in
# each part of a longer one; UCS-2 70 and 67 UTF-16 units. A character never straddles two
# parts: an extension character (two septets) or a surrogate pair (two units) that would
# not fit moves whole to the next part.
CASES = {
    "empty": ("", "GSM-7", 0, 0),
    "one GSM-7 segment": ("a" * 160, "GSM-7", 160, 1),
    "two GSM-7 segments": ("a" * 161, "GSM-7", 161, 2),
    "exactly two parts": ("a" * 306, "GSM-7", 306, 2),
    "three parts": ("a" * 307, "GSM-7", 307, 3),
    "153 x 3": ("a" * 459, "GSM-7", 459, 3),
    "153 x 3 + 1": ("a" * 460, "GSM-7", 460, 4),
    "153 x 10": ("a" * 1530, "GSM-7", 1530, 10),
    "extension characters count twice": ("€" * 80, "GSM-7", 160, 1),
    "extension characters past one SMS": ("€" * 81, "GSM-7", 162, 2),
    "an escape at 159/160 fits one SMS": ("a" * 158 + "€", "GSM-7", 160, 1),
    "an escape at 160/161 makes two parts": ("a" * 159 + "€", "GSM-7", 161, 2),
    "an escape is not split across parts": ("a" * 152 + "€" + "a" * 10, "GSM-7", 164, 2),
    "an escape at a split adds a part": ("a" * 152 + "€" + "a" * 152, "GSM-7", 306, 3),
    "an escape that ends a part exactly": ("a" * 151 + "€" + "a" * 153, "GSM-7", 306, 2),
    "form feed is an extension character": ("\f" * 80, "GSM-7", 160, 1),
    "pound and accents stay GSM-7": ("£5 for O'Brien & Sons, café", "GSM-7", 27, 1),
    "one non-GSM character makes it UCS-2": ("a" * 69 + "ł", "UCS-2", 70, 1),
    "one UCS-2 segment": ("ł" * 70, "UCS-2", 70, 1),
    "two UCS-2 segments": ("ł" * 71, "UCS-2", 71, 2),
    "67 x 2 UCS-2": ("ł" * 134, "UCS-2", 134, 2),
    "67 x 2 + 1 UCS-2": ("ł" * 135, "UCS-2", 135, 3),
    "emoji are two UTF-16 units": ("⚡🔋" * 20, "UCS-2", 60, 1),
    "a surrogate pair at 69/70 fits one SMS": ("ł" * 68 + "🔋", "UCS-2", 70, 1),
    "a surrogate pair at 70/71 makes two parts": ("ł" * 69 + "🔋", "UCS-2", 71, 2),
    "a surrogate pair is not split": ("ł" * 66 + "🔋" + "ł" * 5, "UCS-2", 73, 2),
    "a surrogate pair at a split adds a part": ("ł" * 66 + "🔋" + "ł" * 66, "UCS-2", 134, 3),
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


@pytest.mark.parametrize(
    ("body", "encoding", "units", "segments"), list(CASES.values()), ids=list(CASES)
)
def test_the_twilio_stand_in_bills_the_same_segments(body, encoding, units, segments):
    from chargesol_notifications.testing.twilio.resources import count_segments as standin

    assert standin(body) == (segments or 1)  # Twilio bills an empty (media) message as one


@pytest.mark.parametrize(
    ("body", "encoding", "units", "segments"), list(CASES.values()), ids=list(CASES)
)
def test_the_admin_shows_the_same_segments(body, encoding, units, segments):
    from chargesol_notifications.admin.notifications import NotificationAdmin
    from chargesol_notifications.models import Notification

    shown = NotificationAdmin.sms_segments(None, Notification(channel="sms", body=body))
    assert shown == f"{segments} ({encoding})"
