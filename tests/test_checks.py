"""System checks name the setting to fix."""

from __future__ import annotations

import io

import pytest
from django.core import checks

from chargesol_notifications.checks import check_channels, check_settings

LOCMEM = "chargesol_notifications.backends.locmem.LocmemBackend"


def ids(messages):
    return [message.id for message in messages]


@pytest.fixture
def configure(settings):
    def configure(**value):
        settings.CHARGESOL_NOTIFICATIONS = value

    return configure


def test_test_settings_pass(settings):
    settings.DEBUG = True
    assert [m for m in check_settings() + check_channels() if m.level >= checks.WARNING] == []


def test_unknown_channel(configure):
    configure(CHANNELS={"fax": {"BACKEND": LOCMEM}})
    (message,) = [m for m in check_channels() if m.level >= checks.ERROR]
    assert message.id == "chargesol_notifications.E003"
    assert "CHARGESOL_NOTIFICATIONS['CHANNELS']['fax']" in message.msg


def test_backend_path_that_does_not_import(configure):
    configure(CHANNELS={"sms": {"BACKEND": "chargesol_notifications.backends.nope.SmsBackend"}})
    messages = [m for m in check_channels() if m.level >= checks.ERROR]
    assert ids(messages) == ["chargesol_notifications.E004"]
    assert "CHARGESOL_NOTIFICATIONS['CHANNELS']['sms']['BACKEND']" in messages[0].msg


def test_unknown_backend_option(configure):
    configure(CHANNELS={"sms": {"BACKEND": LOCMEM, "OPTIONS": {"FORM": "+15005550006"}}})
    messages = [m for m in check_channels() if m.level >= checks.ERROR]
    assert ids(messages) == ["chargesol_notifications.E004"]
    assert "['OPTIONS']" in messages[0].msg
    assert "FORM" in messages[0].msg


def test_development_backend_with_debug_off(configure, settings):
    settings.DEBUG = False
    configure(
        CHANNELS={"sms": {"BACKEND": "chargesol_notifications.backends.console.ConsoleBackend"}}
    )
    warnings = [m for m in check_channels() if m.id == "chargesol_notifications.W010"]
    assert [m.msg for m in warnings] == [
        "CHARGESOL_NOTIFICATIONS['CHANNELS']['sms']['BACKEND'] is ConsoleBackend, which does "
        "not deliver anything, and DEBUG is off."
    ]
    # Unconfigured channels print too, so they are reported as well, under their own id.
    unconfigured = [m for m in check_channels() if m.id == "chargesol_notifications.W012"]
    assert any("['CHANNELS']['email'] is not configured" in m.msg for m in unconfigured)
    assert not any("['sms']" in m.msg for m in unconfigured)
    settings.DEBUG = True
    assert [m for m in check_channels() if m.level >= checks.WARNING] == []


def test_unknown_settings_key(configure):
    configure(WEBHOOK_BASE="https://x.example")
    assert "chargesol_notifications.W002" in ids(check_settings())


def test_task_backend_alias_missing(configure):
    configure(TASK_BACKEND="celery")
    messages = [m for m in check_settings() if m.level >= checks.ERROR]
    assert ids(messages) == ["chargesol_notifications.E006"]
    assert "TASK_BACKEND" in messages[0].msg


def test_resolver_that_does_not_import(configure):
    configure(RECIPIENT_RESOLVER="myproject.nope.resolve")
    assert "chargesol_notifications.E005" in ids(check_settings())


def test_checks_run_through_manage_py_check(configure):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    configure(CHANNELS={"fax": {"BACKEND": LOCMEM}})
    with pytest.raises(SystemCheckError, match=r"CHANNELS'\]\['fax'\]"):
        call_command("check")


def test_a_setting_that_is_not_a_dict_is_reported_not_raised(settings):
    settings.CHARGESOL_NOTIFICATIONS = ["sms"]
    assert ids(check_settings() + check_channels()) == ["chargesol_notifications.E001"]


@pytest.mark.parametrize(
    ("value", "names"),
    [
        (["first_name", "password"], ["'password'"]),
        ({"name": "get_full_name", "admin": "is_superuser"}, ["'is_superuser'"]),
        (["groups", "api_key", "_state"], ["'groups'", "'api_key'", "'_state'"]),
        ("first_name", ["must be a dict"]),
    ],
)
def test_recipient_context_that_lists_sensitive_attributes(configure, value, names):
    configure(RECIPIENT_CONTEXT=value)
    messages = [m for m in check_settings() if m.level >= checks.ERROR]
    assert set(ids(messages)) == {"chargesol_notifications.E009"}
    for name in names:
        assert any(name in m.msg for m in messages)
    assert all("CHARGESOL_NOTIFICATIONS['RECIPIENT_CONTEXT']" in m.msg for m in messages)


def test_recipient_context_of_plain_attributes_passes(configure):
    configure(RECIPIENT_CONTEXT={"name": "get_short_name", "login": "username"})
    assert [m for m in check_settings() if m.level >= checks.ERROR] == []


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"MAX_LOOPS": 5}, "['MAX_LOOPS'] is not a limit"),
        ({"MAX_STEPS": "many"}, "['MAX_STEPS'] must be a whole number"),
        ({"MAX_STEPS": 0}, "['MAX_STEPS'] must be a whole number"),
        ({"MAX_LENGTH": {"sms": -1}}, "['MAX_LENGTH']['sms'] must be a whole number"),
        ({"MAX_LENGTH": 160}, "must map channels"),
        ([1], "must be a dict"),
    ],
)
def test_render_limits_that_are_not_limits(configure, value, text):
    configure(RENDER_LIMITS=value)
    (message,) = [m for m in check_settings() if m.level >= checks.ERROR]
    assert message.id == "chargesol_notifications.E010"
    assert text in message.msg


@pytest.mark.parametrize(
    "value",
    [["lead"], {"lead": 3}, {"invoice": "admin:index"}, {"lead": ""}],
)
def test_context_urls_must_map_context_types_to_url_names(configure, value):
    configure(CONTEXT_URLS=value)
    assert "chargesol_notifications.E018" in ids(check_settings())


def test_context_urls_of_known_types_pass(configure):
    configure(CONTEXT_URLS={"lead": "admin:index"})
    assert "chargesol_notifications.E018" not in ids(check_settings())


def test_channels_that_are_not_a_dict_have_their_own_id(configure):
    configure(CHANNELS=["sms"])
    assert ids(check_channels()) == ["chargesol_notifications.E011"]


def test_every_check_id_means_one_thing():
    """No id is written twice in the checks module (E001 and W010 once meant two things)."""
    import inspect
    import re
    from collections import Counter

    from chargesol_notifications import checks as module

    written = Counter(re.findall(r'id=f"\{TAG\}\.([EWI]\d{3})"', inspect.getsource(module)))
    repeated = {check_id: n for check_id, n in written.items() if n > 1}
    # E005, E008, E009, E014 and E018 name one kind of setting each and are written once
    # per way (or per place) it is wrong.
    assert set(repeated) <= {"E005", "E008", "E009", "E014", "E018"}, repeated


@pytest.mark.django_db  # Django 6.1's check command also runs the database checks
def test_the_task_backend_note_is_for_check_deploy_only(settings):
    from django.core.management import call_command

    settings.DEBUG = True
    out = io.StringIO()
    call_command("check", "--tag", "chargesol_notifications", stdout=out, stderr=out)
    assert "I007" not in out.getvalue()
    call_command("check", "--deploy", "--tag", "chargesol_notifications", stdout=out, stderr=out)
    assert "chargesol_notifications.I007" in out.getvalue()


def test_content_templates_for_a_backend_that_cannot_send_them(configure):
    configure(
        CHANNELS={"whatsapp": {"BACKEND": LOCMEM}},
        WHATSAPP_CONTENT_TEMPLATES={"survey_reminder_whatsapp": "HX" + "0" * 32},
    )
    (message,) = [m for m in check_channels() if m.id == "chargesol_notifications.W013"]
    assert "LocmemBackend" in message.msg


def test_the_generic_checks_name_no_gateway():
    """Provider facts live in the backends' own check(); checks.py names none."""
    import inspect

    from chargesol_notifications import checks as module

    source = inspect.getsource(module).lower()
    assert "twilio" not in source
    assert "fcm" not in source
