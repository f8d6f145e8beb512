"""Push notifications through Firebase Cloud Messaging: ``FcmBackend``.

Needs the ``fcm`` extra (``pip install chargesol-notifications[fcm]``, which brings
``firebase-admin``). Options: ``CREDENTIALS`` (a service-account JSON file or its contents
as a dict), and optionally ``PROJECT_ID``, ``DEFAULT_TITLE``, ``TIMEOUT`` and
``ENDPOINT``. See docs/push.rst.
"""

try:
    import firebase_admin  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "chargesol_notifications.backends.fcm needs firebase-admin: "
        "pip install chargesol-notifications[fcm]"
    ) from exc

from .backend import FcmBackend

__all__ = ["FcmBackend"]
