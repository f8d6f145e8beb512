from __future__ import annotations

import pytest
import requests

MESSAGES = "/2010-04-01/Accounts/{account}/Messages.json"
CALLS = "/2010-04-01/Accounts/{account}/Calls.json"


class RawTwilio:
    """Plain HTTP to the stand-in, for requests the twilio client would never send."""

    def __init__(self, standin):
        self.standin = standin
        self.session = requests.Session()
        self.session.trust_env = False  # no environment proxy for loopback traffic

    def post(self, path, data=None, *, auth=None, **kwargs):
        url = self.standin.url + path.format(account=self.standin.account_sid)
        if auth is None:
            auth = (self.standin.account_sid, self.standin.auth_token)
        return self.session.post(url, data=data, auth=auth or None, timeout=5, **kwargs)

    def get(self, path, *, auth=None):
        url = self.standin.url + path.format(account=self.standin.account_sid)
        if auth is None:
            auth = (self.standin.account_sid, self.standin.auth_token)
        return self.session.get(url, auth=auth or None, timeout=5)


@pytest.fixture
def raw(twilio_standin):
    return RawTwilio(twilio_standin)
