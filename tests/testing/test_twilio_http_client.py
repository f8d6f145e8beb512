"""StandinHttpClient: the real client's transport, pointed at the loopback stand-in."""

from __future__ import annotations

import pytest
from django.utils.module_loading import import_string
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from chargesol_notifications.testing.twilio import StandinHttpClient, TwilioStandin, current_standin

DOTTED = "chargesol_notifications.testing.twilio.StandinHttpClient"


def test_is_a_twilio_http_client():
    client = StandinHttpClient(timeout=4)
    assert isinstance(client, HttpClient)
    assert isinstance(client, TwilioHttpClient)
    assert client.timeout == 4


def test_dotted_path_with_no_arguments_finds_the_running_standin(twilio_standin):
    http_client = import_string(DOTTED)()
    client = Client(twilio_standin.account_sid, twilio_standin.auth_token, http_client=http_client)
    client.messages.create(to="+447700900123", from_="+15005550006", body="Hi")
    assert len(twilio_standin.messages) == 1
    assert current_standin() is twilio_standin


def test_without_a_running_standin_nothing_leaves_the_machine():
    client = Client("AC" + "1" * 32, "token", http_client=StandinHttpClient())
    with pytest.raises(RuntimeError, match="No Twilio stand-in is running"):
        client.messages.create(to="+447700900123", from_="+15005550006", body="Hi")


def test_refuses_hosts_other_than_twilio(twilio_standin):
    with pytest.raises(ValueError, match="only sends to Twilio"):
        twilio_standin.http_client().request("GET", "https://example.com/2010-04-01/x.json")


def test_keeps_path_and_query(twilio_standin):
    http_client = twilio_standin.http_client()
    url = http_client.rewrite(
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?PageSize=5"
    )
    assert url == f"{twilio_standin.url}/2010-04-01/Accounts/AC1/Messages.json?PageSize=5"


def test_edge_and_region_hosts_are_rewritten_too(twilio_standin):
    client = Client(
        twilio_standin.account_sid,
        twilio_standin.auth_token,
        region="ie1",
        edge="dublin",
        http_client=twilio_standin.http_client(),
    )
    client.messages.create(to="+447700900123", from_="+15005550006", body="Hi")
    assert len(twilio_standin.messages) == 1


def test_a_bound_client_ignores_newer_standins(twilio_standin):
    bound = twilio_standin.http_client()
    with TwilioStandin() as newer:
        assert current_standin() is newer
        client = Client(twilio_standin.account_sid, twilio_standin.auth_token, http_client=bound)
        client.messages.create(to="+447700900123", from_="+15005550006", body="Hi")
        assert newer.messages == []
    assert len(twilio_standin.messages) == 1
    assert current_standin() is twilio_standin


def test_backend_options_point_at_the_standin(twilio_standin):
    options = twilio_standin.backend_options(FROM="+15005550006")
    assert options["ACCOUNT_SID"] == twilio_standin.account_sid
    assert options["AUTH_TOKEN"] == twilio_standin.auth_token
    assert options["FROM"] == "+15005550006"
    assert isinstance(options["HTTP_CLIENT"], StandinHttpClient)
    assert options["HTTP_CLIENT"].target() is twilio_standin


def test_environment_proxies_are_not_used(twilio_standin, monkeypatch):
    # A proxy that does not exist: if it were used, the request would fail.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    client = twilio_standin.client(timeout=5)
    client.messages.create(to="+447700900123", from_="+15005550006", body="Hi")
    assert len(twilio_standin.messages) == 1


def test_a_url_reaches_a_standin_without_the_registry(twilio_standin):
    # As in another process: a client built from the address alone.
    http_client = StandinHttpClient(url=twilio_standin.url)
    client = Client(twilio_standin.account_sid, twilio_standin.auth_token, http_client=http_client)
    client.messages.create(to="+447700900123", from_="+15005550006", body="Hi")
    assert [m.body for m in twilio_standin.messages] == ["Hi"]
    assert http_client.rewrite("https://api.twilio.com/2010-04-01/x.json?a=1") == (
        f"{twilio_standin.url}/2010-04-01/x.json?a=1"
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:8010",  # the stand-in speaks plain HTTP
        "http://127.0.0.1",  # no port
        "http://192.0.2.10:8010",  # not this machine
        "http://api.twilio.com:80",
    ],
)
def test_a_url_must_be_a_loopback_address(url):
    with pytest.raises(ValueError, match="loopback only"):
        StandinHttpClient(url=url)


def test_a_url_or_a_standin_not_both(twilio_standin):
    with pytest.raises(TypeError):
        StandinHttpClient(twilio_standin, url=twilio_standin.url)
