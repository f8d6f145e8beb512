"""``FcmBackend``: each push notification to each of its recipient's device tokens."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import firebase_admin
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from firebase_admin import messaging

from ...choices import Channel
from ...exceptions import ConfigurationError, TransientDeliveryError
from .. import channel_setting_name
from ..base import (
    AddressResult,
    BaseChannelBackend,
    OutgoingMessage,
    SendAttempt,
    as_delivery_error,
)
from .apps import firebase_app, load_service_account
from .errors import classify

logger = logging.getLogger("chargesol_notifications.delivery")

#: Seconds to wait for each of FCM's answers (firebase-admin's own default is 120 s,
#: which would hold a worker and the notification's row lock).
DEFAULT_TIMEOUT = 15.0
#: Messages firebase-admin's ``send_each`` takes at once.
SEND_EACH_LIMIT = 500

TAG = "chargesol_notifications"


class FcmBackend(BaseChannelBackend):
    """Push through Firebase Cloud Messaging's HTTP v1 API, with ``firebase-admin``.

    The recipient's address is their device tokens (``PUSH_TOKEN_RESOLVER``); each gets
    the notification in a request of its own (``messaging.send_each``). The notification
    is sent when any device took it, and each token gets a receipt: ``sent`` with FCM's
    message name, or ``failed`` with FCM's error code. Tokens FCM calls invalid
    (``UNREGISTERED``, ``SENDER_ID_MISMATCH``, an ``INVALID_ARGUMENT`` about the token)
    are reported by the ``push_token_invalid`` signal. When no device took it, FCM's
    errors decide between retry and failure (:mod:`.errors`).

    The push's title is the notification's subject, which only email has today, or
    ``DEFAULT_TITLE``; its text is the body. Its ``data`` carries ``notification_id``,
    ``context_type`` and ``context_id`` (strings, "" when unset) for the mobile app.

    OPTIONS: ``CREDENTIALS`` (the path of a service-account JSON file, or its contents
    as a dict), ``PROJECT_ID`` (default: the service account's), ``DEFAULT_TITLE``,
    ``TIMEOUT`` (seconds per request, default 15), ``ENDPOINT`` (the root URL of an FCM
    stand-in, for tests). See docs/push.rst.
    """

    channels = frozenset({Channel.PUSH})
    option_names = frozenset({"CREDENTIALS", "PROJECT_ID", "DEFAULT_TITLE", "TIMEOUT", "ENDPOINT"})
    # FCM answers in a few hundred milliseconds, from far away: overlap the waits.
    default_concurrency = 8

    def configure(self, **options: Any) -> None:
        self.credentials: Any = options.get("CREDENTIALS")
        self.project_id_option: str = options.get("PROJECT_ID") or ""
        self.default_title: str = options.get("DEFAULT_TITLE") or ""
        self.timeout_option: Any = options.get("TIMEOUT")
        self.endpoint: str | None = options.get("ENDPOINT") or None
        self._app: firebase_admin.App | None = None

    def setting(self, key: str) -> str:
        return channel_setting_name(self.channel, "OPTIONS", key)

    # -- configuration, checked at first use and by manage.py check ------------------------

    def service_account(self) -> dict[str, Any]:
        if not self.credentials:
            raise ConfigurationError(
                f"{self.setting('CREDENTIALS')} is missing: give the path of the Firebase "
                "service-account JSON file, or its contents as a dict."
            )
        return load_service_account(self.credentials, self.setting("CREDENTIALS"))

    def project_id(self, info: dict[str, Any]) -> str:
        project_id = self.project_id_option or str(info.get("project_id") or "")
        if not project_id:
            raise ConfigurationError(
                f"Set {self.setting('PROJECT_ID')}: the service account of "
                f"{self.setting('CREDENTIALS')} names no project_id."
            )
        return project_id

    def timeout(self) -> float:
        if self.timeout_option is None:
            return DEFAULT_TIMEOUT
        try:
            timeout = float(self.timeout_option)
        except (TypeError, ValueError):
            timeout = 0.0
        if not timeout > 0:
            raise ConfigurationError(
                f"{self.setting('TIMEOUT')} must be a number of seconds above 0, "
                f"not {self.timeout_option!r}."
            )
        return timeout

    @property
    def app(self) -> firebase_admin.App:
        """This configuration's ``firebase_admin.App``; ConfigurationError if it cannot be."""
        if self._app is None:
            info = self.service_account()
            self._app = firebase_app(
                self.channel,
                info,
                project_id=self.project_id(info),
                timeout=self.timeout(),
                endpoint=self.endpoint,
                setting=self.setting("CREDENTIALS"),
            )
        return self._app

    def check(self) -> Iterable[checks.CheckMessage]:
        try:
            info = self.service_account()
        except ConfigurationError as exc:
            yield checks.Error(str(exc), id=f"{TAG}.E035")
            info = None
        if info is not None:
            try:
                self.project_id(info)
            except ConfigurationError as exc:
                yield checks.Error(str(exc), id=f"{TAG}.E036")
        try:
            self.timeout()
        except ConfigurationError as exc:
            yield checks.Error(str(exc), id=f"{TAG}.E037")
        if self.endpoint and not settings.DEBUG:
            yield checks.Warning(
                f"{self.setting('ENDPOINT')} sends push notifications to {self.endpoint} "
                "instead of Firebase Cloud Messaging, and DEBUG is off.",
                hint="ENDPOINT is for tests and local development; remove it in production.",
                id=f"{TAG}.W038",
            )

    def close(self) -> None:
        # The App is shared by every thread's backend of this configuration: kept.
        self._app = None

    # -- sending -----------------------------------------------------------------------------

    def send_unchecked(self, message: OutgoingMessage) -> SendAttempt:
        """Send to each device token: one :class:`AddressResult` per token."""
        try:
            results = self.send_to_each(message)
        except ImproperlyConfigured as exc:
            # As delivery treats a broken channel setting: kept for a retry (bounded like
            # any transient failure), fixed by a deploy.
            logger.error("Cannot send notification %s: %s", message.notification_id, exc)
            error = TransientDeliveryError(str(exc), code="improperly_configured")
            return SendAttempt(message=message, error=error)
        except Exception as exc:
            during = f"sending notification {message.notification_id} through FcmBackend"
            return SendAttempt(message=message, error=as_delivery_error(exc, during=during))
        return SendAttempt.to_each(message, results)

    def send_message(self, message: OutgoingMessage) -> str | None:
        """For callers of the one-address hook: the first accepting device's message name,
        or the error that decided the attempt. Delivery uses :meth:`send_unchecked`."""
        attempt = self.send_unchecked(message)
        if attempt.error is not None:
            raise attempt.error
        return attempt.gateway_message_id

    def send_to_each(self, message: OutgoingMessage) -> list[AddressResult]:
        tokens = list(dict.fromkeys(tokens_of(message)))  # each device once
        app = self.app
        results: list[AddressResult] = []
        for start in range(0, len(tokens), SEND_EACH_LIMIT):
            chunk = tokens[start : start + SEND_EACH_LIMIT]
            try:
                batch = messaging.send_each([self.fcm_message(message, t) for t in chunk], app=app)
            except Exception as exc:
                # Nothing was sent (the access token could not be had, say): the whole
                # attempt fails as one, for every token.
                raise classify(exc, credentials_setting=self.setting("CREDENTIALS")).error from exc
            results += [self.result(t, r) for t, r in zip(chunk, batch.responses, strict=True)]
        return results

    def fcm_message(self, message: OutgoingMessage, token: str) -> messaging.Message:
        fcm_message = messaging.Message(
            notification=messaging.Notification(
                title=message.subject or self.default_title or None, body=message.body
            ),
            data=payload(message),
        )
        # The registration token is FCM v1's ``token`` target. firebase-admin 7.7 warns
        # on the constructor's ``token=`` (FCM is moving to Firebase installation IDs,
        # ``fid``), but the tokens apps register, and PUSH_TOKEN_RESOLVER returns, are
        # registration tokens, which FCM still takes there; and firebase-admin 6 has no
        # ``fid``. Set after construction: the encoder reads the attribute either way,
        # and no warning filter (process-wide, not thread-safe) has to change.
        fcm_message.token = token
        return fcm_message

    def result(self, token: str, response: messaging.SendResponse) -> AddressResult:
        if response.success:
            return AddressResult(token, gateway_message_id=response.message_id)
        failure = classify(response.exception, credentials_setting=self.setting("CREDENTIALS"))
        return AddressResult(token, error=failure.error, invalid=failure.invalid_token)


def tokens_of(message: OutgoingMessage) -> Sequence[str]:
    return message.to if isinstance(message.to, tuple) else (message.to,)


def payload(message: OutgoingMessage) -> dict[str, str]:
    """The push's ``data``: strings only, as FCM requires; "" for what is not set."""
    return {
        "notification_id": str(message.notification_id),
        "context_type": message.context_type or "",
        "context_id": str(message.context_id) if message.context_id else "",
    }
