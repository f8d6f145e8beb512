from __future__ import annotations

import pytest

# The app's plugin, as a project enables it: an empty outbox for every test
# (notification_outbox) and the Twilio stand-in (twilio_standin, twilio_client).
pytest_plugins = ["chargesol_notifications.testing.pytest_plugin"]


@pytest.fixture
def send(django_capture_on_commit_callbacks):
    """notify() and run what it queued on commit, as a committed transaction would."""
    from chargesol_notifications import notify

    def send(*args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            n = notify(*args, **kwargs)
        n.refresh_from_db()
        return n

    return send


@pytest.fixture
def default_quiet_hours(settings):
    """tests/settings.py switches quiet hours off (the suite runs at any hour); tests
    about the default hours use this to get them back."""
    settings.CHARGESOL_NOTIFICATIONS = {
        key: value
        for key, value in settings.CHARGESOL_NOTIFICATIONS.items()
        if key != "QUIET_HOURS"
    }


@pytest.fixture
def standin(settings, twilio_standin):
    """The Twilio stand-in, with the app's SMS, WhatsApp and call channels pointed at it."""
    from .twilio_setup import use_twilio

    use_twilio(settings, twilio_standin)
    return twilio_standin


LOOPBACK = ("127.", "::1", "localhost")


@pytest.fixture(autouse=True, scope="session")
def _no_traffic_off_the_machine():
    """Refuse any connection that would leave the machine: no test talks to Twilio,
    Google or anyone else for real. Loopback (the stand-in, the databases, Chromium's
    pages) and Unix sockets are allowed."""
    import socket

    real_connect = socket.socket.connect

    def connect(sock: socket.socket, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = str(address[0])
            if not host.startswith(LOOPBACK):
                raise ConnectionRefusedError(f"tests may not connect to {host}")
        return real_connect(sock, address)

    socket.socket.connect = connect
    yield
    socket.socket.connect = real_connect
