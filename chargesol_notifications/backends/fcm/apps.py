"""The service account and the ``firebase_admin.App`` of each FCM configuration.

``firebase-admin`` keeps its Apps in a process-wide registry, by name. Each configuration
(credentials, project, timeout, endpoint) gets an App of its own, named after a digest of
it: the backends of every thread with that configuration share it (and so its access
token, fetched once an hour), and two configurations never do, whatever else in the
project initialises Firebase (its default App is never touched).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Mapping
from typing import Any

import firebase_admin
from firebase_admin import credentials, messaging

from ...exceptions import ConfigurationError

APP_NAME_PREFIX = "chargesol_notifications"

_lock = threading.Lock()


def load_service_account(value: Any, setting: str) -> dict[str, Any]:
    """The service-account JSON that ``value`` (a path, or the parsed dict) gives."""
    if isinstance(value, Mapping):
        info = dict(value)
    elif isinstance(value, str | os.PathLike):
        try:
            with open(value, encoding="utf-8") as file:
                info = json.load(file)
        except OSError as exc:
            raise ConfigurationError(f"{setting}: cannot read {os.fspath(value)!r}: {exc}") from exc
        except ValueError as exc:
            raise ConfigurationError(
                f"{setting}: {os.fspath(value)!r} is not a JSON file: {exc}"
            ) from exc
        if not isinstance(info, dict):
            raise ConfigurationError(f"{setting}: {os.fspath(value)!r} is not a JSON object.")
    else:
        raise ConfigurationError(
            f"{setting} must be the path of a service-account JSON file, or its contents "
            f"as a dict (not {type(value).__name__})."
        )
    if info.get("type") != "service_account":
        raise ConfigurationError(
            f'{setting} is not a service-account key (its "type" is {info.get("type")!r}). '
            "Create one in the Firebase console: Project settings, Service accounts, "
            "Generate new private key."
        )
    certificate(info, setting)  # the key must load
    return info


def certificate(info: Mapping[str, Any], setting: str) -> credentials.Certificate:
    try:
        return credentials.Certificate(dict(info))
    except ValueError as exc:
        raise ConfigurationError(f"{setting}: {exc}") from exc


def app_name(channel: str, configuration: Mapping[str, Any]) -> str:
    """The App's name: the channel and a digest of everything the App is built from."""
    text = json.dumps(configuration, sort_keys=True, default=str)
    return f"{APP_NAME_PREFIX}:{channel}:{hashlib.sha256(text.encode()).hexdigest()[:20]}"


def firebase_app(
    channel: str,
    info: Mapping[str, Any],
    *,
    project_id: str,
    timeout: float,
    endpoint: str | None,
    setting: str,
) -> firebase_admin.App:
    """The App of this configuration, initialised on first use."""
    configuration = {
        "credentials": dict(info),
        "project_id": project_id,
        "timeout": timeout,
        "endpoint": endpoint,
    }
    name = app_name(channel, configuration)
    with _lock:
        try:
            return firebase_admin.get_app(name)
        except ValueError:
            pass  # not initialised yet
        # Options given in full: with none, firebase-admin would read FIREBASE_CONFIG.
        options = {"projectId": project_id, "httpTimeout": timeout}
        app = firebase_admin.initialize_app(certificate(info, setting), options, name=name)
        if endpoint:
            try:
                point_at(app, endpoint, project_id, setting)
            except Exception:
                firebase_admin.delete_app(app)
                raise
        return app


def point_at(app: firebase_admin.App, endpoint: str, project_id: str, setting: str) -> None:
    """Send ``app``'s messages to ``endpoint`` (a stand-in of FCM) instead of FCM.

    firebase-admin has no option for the FCM URL; its Java, Go and .NET siblings declined
    to add one (their advice: a staging Firebase project). So this is the least private
    way there is: ``messaging._get_messaging_service(app)``, which every public
    ``messaging.send*`` call goes through, returns the App's one messaging service, and
    the service posts to the URL it keeps in ``_fcm_url``, formatted once from the class
    attribute ``FCM_URL``. Changing that attribute would move every App in the process;
    a subclass would not help (``__init__`` reads ``_MessagingService.FCM_URL`` by
    name). Setting the attribute on this App's service moves this App only. Without
    ``ENDPOINT`` (production) nothing private is touched, and a firebase-admin that
    keeps the URL elsewhere is reported as a configuration error, never ignored.
    """
    service = messaging._get_messaging_service(app)
    if not isinstance(getattr(service, "_fcm_url", None), str):
        raise ConfigurationError(
            f"{setting}: firebase-admin {firebase_admin.__version__} does not keep its FCM "
            "URL where this app sets it, so ENDPOINT cannot be honoured."
        )
    service._fcm_url = f"{endpoint.rstrip('/')}/v1/projects/{project_id}/messages:send"
