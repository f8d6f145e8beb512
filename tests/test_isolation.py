"""The suite itself: nothing leaves the machine."""

from __future__ import annotations

import socket

import pytest


def test_no_test_can_reach_the_internet():
    with pytest.raises(ConnectionRefusedError, match="may not connect"):
        socket.create_connection(("192.0.2.1", 443), timeout=1)


def test_the_twilio_client_cannot_reach_twilio_without_the_standin():
    from twilio.rest import Client

    client = Client("AC" + "0" * 32, "token")
    with pytest.raises(Exception, match=r"may not connect|Max retries|Connection"):
        client.messages.create(to="+447700900123", from_="+15005550006", body="x")
