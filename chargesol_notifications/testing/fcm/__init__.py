"""A loopback stand-in of Firebase Cloud Messaging, behind the real ``firebase-admin``.

Usage in a test (the ``fcm_standin`` fixture of the app's pytest plugin runs one)::

    def test_push(settings, fcm_standin, send):
        settings.CHARGESOL_NOTIFICATIONS = {
            "CHANNELS": {
                "push": {
                    "BACKEND": "chargesol_notifications.backends.fcm.FcmBackend",
                    "OPTIONS": fcm_standin.backend_options(DEFAULT_TITLE="ChargeSol"),
                },
            },
            "PUSH_TOKEN_RESOLVER": "myproject.push.device_tokens",
        }
        ...
        (push,) = fcm_standin.pushes
        assert push.title == "ChargeSol"

It needs ``cryptography`` (the ``fcm`` extra brings it). See docs/push.rst.
"""

from __future__ import annotations

from .accounts import DEFAULT_PROJECT_ID, ServiceAccount, verify_assertion
from .api import CATALOGUE, Fault, FcmApi, RecordedPush, Refused, SpecViolation, fcm_error
from .standin import FcmStandin
from .validation import Problem, check_request

__all__ = [
    "CATALOGUE",
    "DEFAULT_PROJECT_ID",
    "Fault",
    "FcmApi",
    "FcmStandin",
    "Problem",
    "RecordedPush",
    "Refused",
    "ServiceAccount",
    "SpecViolation",
    "check_request",
    "fcm_error",
    "verify_assertion",
]
