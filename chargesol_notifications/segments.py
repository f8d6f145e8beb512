"""How many SMS segments a body costs: GSM-7 (160/153) or UCS-2 (70/67).

A body in the GSM 03.38 alphabet packs 160 characters into one SMS, or 153 per part when
it is split (each part carries a header); characters of the extension table (``€``, ``[``,
``{``, ...) take two slots. Any other character switches the whole body to UCS-2: 70
UTF-16 units in one SMS, 67 per part. Parts never split a two-slot character, which is why
the count is packed greedily rather than divided.
"""

from __future__ import annotations

from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

LIMITS = {"GSM-7": (160, 153), "UCS-2": (70, 67)}


@dataclass(frozen=True)
class SegmentCount:
    encoding: str
    #: Slots used: GSM-7 septets or UTF-16 code units.
    units: int
    segments: int


def count_segments(body: str) -> SegmentCount:
    """The encoding and number of SMS parts ``body`` is sent as."""
    if all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in body):
        encoding = "GSM-7"
        widths = [2 if char in GSM7_EXTENSION else 1 for char in body]
    else:
        encoding = "UCS-2"
        widths = [2 if ord(char) > 0xFFFF else 1 for char in body]
    single, per_part = LIMITS[encoding]
    units = sum(widths)
    if units <= single:
        return SegmentCount(encoding, units, 1 if units else 0)
    segments, used = 1, 0
    for width in widths:
        if used + width > per_part:
            segments, used = segments + 1, 0
        used += width
    return SegmentCount(encoding, units, segments)
