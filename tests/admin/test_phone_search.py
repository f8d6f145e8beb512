"""phone_search_terms(): what a search term means as a phone number, in E.164."""

from __future__ import annotations

import pytest

from chargesol_notifications.admin.phone_search import phone_search_terms


@pytest.mark.parametrize(
    "term",
    [
        "07700 900102",
        "+44 7700 900102",
        "447700900102",
        "  +447700900102  ",
        "0044 7700 900102",
        "(07700) 900-102",
    ],
)
def test_every_way_of_writing_a_number_gives_its_e164_form(term):
    assert phone_search_terms(term) == ["+447700900102"]


def test_digits_that_read_two_ways_give_both():
    # 020 7946 0018 written without its 0 (London), or an Egyptian number without its +:
    # either may be what staff meant, and an exact match on each costs one index lookup.
    assert phone_search_terms("2079460018") == ["+442079460018", "+2079460018"]


def test_digits_of_another_country_without_the_plus():
    assert phone_search_terms("4915112345678") == ["+4915112345678"]


@pytest.mark.parametrize(
    "term",
    ["", "   ", "niamh", "niamh@example.com", "3fa85f64-5717-4562-b3fc-2c963f66afa6", "+", "07"],
)
def test_what_is_no_phone_number_gives_nothing(term):
    assert phone_search_terms(term) == []


def test_without_a_default_region_only_international_numbers_are_read(settings):
    settings.CHARGESOL_NOTIFICATIONS = {**settings.CHARGESOL_NOTIFICATIONS, "DEFAULT_REGION": None}
    assert phone_search_terms("07700 900102") == []
    assert phone_search_terms("447700900102") == ["+447700900102"]
