"""Push addresses for the demo: every customer has one phone with the app installed."""

from __future__ import annotations

from typing import Any


def demo_push_tokens(user: Any) -> list[str]:
    """The push tokens of ``user``'s devices (a real project reads its device table)."""
    return [f"demo-device-{user.pk}"]
