"""Twilio backends: ``SmsBackend``, ``WhatsAppBackend`` and ``CallBackend``.

Configure them per channel with the OPTIONS ``ACCOUNT_SID``, ``AUTH_TOKEN``, ``FROM`` or
``MESSAGING_SERVICE_SID``, and optionally ``API_KEY_SID``/``API_KEY_SECRET``,
``HTTP_CLIENT`` and ``TIMEOUT``; calls also take ``VOICE``, ``LANGUAGE`` and
``MACHINE_DETECTION``. See docs/twilio.rst.
"""

from .messages import SmsBackend, WhatsAppBackend
from .voice import CallBackend

__all__ = ["CallBackend", "SmsBackend", "WhatsAppBackend"]
