"""Delivery's email check says what Django's ``validate_email`` says, for any address,
however often a domain comes back."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from chargesol_notifications.outgoing import EmailAddressValidator

ADDRESSES = [
    "freya@example.com",
    "freya.khan+survey@example.co.uk",
    '"quoted local"@example.com',
    "user@[192.168.0.1]",
    "user@[IPv6:2001:db8::1]",
    "user@[999.1.1.1]",
    "user@xn--bcher-kva.example",
    "user@bücher.example",
    "user@localhost",
    "user@-bad-.example",
    "user@example..com",
    "user@example.com.",
    "no-at-sign.example.com",
    "two@@example.com",
    "user@",
    "@example.com",
    "a b@example.com",
    "user@exa_mple.com",
    "x" * 65 + "@example.com",
    "user@" + "a" * 64 + ".com",
    "",
]


def verdict(validate, address: str) -> bool:
    try:
        validate(address)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("address", ADDRESSES)
def test_the_same_verdict_as_djangos(address):
    validator = EmailAddressValidator()
    expected = verdict(validate_email, address)
    assert verdict(validator, address) is expected
    assert verdict(validator, address) is expected  # the domain's verdict, kept


def test_a_kept_verdict_is_per_domain():
    validator = EmailAddressValidator()
    assert verdict(validator, "one@example.com")
    assert not verdict(validator, "two@exa_mple.com")
    assert verdict(validator, "three@example.com")
    assert validator.domains == {"example.com": True, "exa_mple.com": False}


def test_the_record_of_domains_is_bounded(monkeypatch):
    validator = EmailAddressValidator()
    monkeypatch.setattr(EmailAddressValidator, "DOMAINS_KEPT", 3)
    for number in range(7):
        assert verdict(validator, f"user@d{number}.example")
    assert len(validator.domains) <= 3
