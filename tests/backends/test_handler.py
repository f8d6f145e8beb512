"""The backend handler: Django's BaseConnectionHandler, per thread, rebuilt on settings."""

from __future__ import annotations

import threading

import pytest
from django.test import override_settings

from chargesol_notifications.backends import backends, get_backend
from chargesol_notifications.backends.console import ConsoleBackend
from chargesol_notifications.backends.dummy import DummyBackend
from chargesol_notifications.backends.locmem import LocmemBackend
from chargesol_notifications.exceptions import ConfigurationError

DUMMY = "chargesol_notifications.backends.dummy.DummyBackend"


def in_thread(channel):
    """The backend another thread gets for ``channel``."""
    seen = []
    thread = threading.Thread(target=lambda: seen.append(get_backend(channel)))
    thread.start()
    thread.join()
    return seen[0]


def test_one_instance_per_thread():
    here = get_backend("sms")
    assert get_backend("sms") is here
    elsewhere = in_thread("sms")
    assert type(elsewhere) is type(here) is LocmemBackend
    assert elsewhere is not here


def test_two_threads_get_instances_of_their_own():
    first, second = in_thread("sms"), in_thread("sms")
    assert first is not second


def test_override_settings_rebuilds_the_backends(settings):
    before = get_backend("sms")
    with override_settings(
        CHARGESOL_NOTIFICATIONS={"QUIET_HOURS": None, "CHANNELS": {"sms": {"BACKEND": DUMMY}}}
    ):
        assert type(get_backend("sms")) is DummyBackend
        assert type(get_backend("email")) is ConsoleBackend  # not listed: the default
        assert type(in_thread("sms")) is DummyBackend
    after = get_backend("sms")
    assert type(after) is LocmemBackend
    assert after is not before


def test_a_change_closes_this_threads_backends(settings):
    closed = []
    backend = get_backend("push")
    backend.close = lambda: closed.append("push")
    settings.CHARGESOL_NOTIFICATIONS = {**settings.CHARGESOL_NOTIFICATIONS}
    assert closed == ["push"]
    assert get_backend("push") is not backend


def test_an_unknown_channel_names_the_setting():
    with pytest.raises(ConfigurationError, match=r"\['CHANNELS'\]\['fax'\]: 'fax' is not a"):
        backends["fax"]


def test_a_broken_channel_does_not_break_the_others(settings):
    settings.CHARGESOL_NOTIFICATIONS = {
        "QUIET_HOURS": None,
        "CHANNELS": {"sms": {"BACKEND": DUMMY, "TIMEOUT": 3}, "email": {"BACKEND": DUMMY}},
    }
    with pytest.raises(ConfigurationError, match=r"\['sms'\] has unknown keys \['TIMEOUT'\]"):
        get_backend("sms")
    assert type(get_backend("email")) is DummyBackend
