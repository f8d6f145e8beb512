"""Input to the public API: wrong types, unstorable text, users that are not saved rows,
out-of-range integers and phone numbers with letters or extensions.

Each bad call raises its NotificationError subclass, names the argument, and leaves no
trace: no row, nothing in the outbox, no callback waiting for the commit. The tables run
on every database of the suite (SQLite, PostgreSQL, MariaDB), where a value that slipped
through would instead fail inside the driver or, for a deleted user on PostgreSQL, at
commit.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Group
from django.utils.translation import gettext_lazy

import chargesol_notifications
from chargesol_notifications import log_call, notify, notify_many, place_call
from chargesol_notifications.arguments import INTEGER_FIELD_MAX
from chargesol_notifications.exceptions import (
    InvalidCallError,
    InvalidMessageError,
    InvalidPhoneNumberError,
    NotificationError,
)
from chargesol_notifications.models import CallLog, Notification, NotificationTemplate
from chargesol_notifications.recipients import normalise_phone

from .factories import NotificationTemplateFactory, StaffUserFactory, UserFactory

pytestmark = pytest.mark.django_db

CUSTOMER = "+447700900123"


def unsaved_user() -> Any:
    return get_user_model()(username="ghost", phone=CUSTOMER)


def deleted_user() -> Any:
    """A user instance whose row is gone (deleted by a queryset, so it keeps its pk)."""
    user = UserFactory()
    get_user_model().objects.filter(pk=user.pk).delete()
    return user


def another_model_instance() -> Any:
    return Group.objects.get_or_create(name="installers")[0]


def unsaved_template() -> Any:
    return NotificationTemplate(name="draft_sms", channel="sms", body_template="Hi")


@pytest.fixture
def no_trace(django_capture_on_commit_callbacks):
    """Run the block, then check it wrote nothing, sent nothing and queued nothing."""

    class NoTrace:
        def __enter__(self):
            self.capture = django_capture_on_commit_callbacks(execute=True)
            self.callbacks = self.capture.__enter__()
            return self

        def __exit__(self, *exc_info):
            self.capture.__exit__(*exc_info)
            assert self.callbacks == []
            assert Notification.objects.count() == 0
            assert CallLog.objects.count() == 0
            assert chargesol_notifications.outbox == []

    return NoTrace()


def assert_names(excinfo: pytest.ExceptionInfo, argument: str) -> None:
    assert isinstance(excinfo.value, NotificationError)
    assert isinstance(excinfo.value, ValueError)
    assert argument in str(excinfo.value), str(excinfo.value)


# -- notify() and notify_many() -----------------------------------------------------------

#: argument -> (the bad value, or a callable making it, other arguments it needs)
BAD_MESSAGES: dict[str, tuple[str, Any, dict[str, Any]]] = {
    "channel list": ("channel", ["sms"], {}),
    "channel bytes": ("channel", b"sms", {}),
    "channel int": ("channel", 1, {}),
    "channel None": ("channel", None, {}),
    "channel NUL": ("channel", "sms\x00", {}),
    "template int": ("template", 7, {"body": None}),
    "template bytes": ("template", b"reminder_sms", {"body": None}),
    "template list": ("template", ["reminder_sms"], {"body": None}),
    "template NUL": ("template", "reminder\x00_sms", {"body": None}),
    "template surrogate": ("template", "reminder_\ud800", {"body": None}),
    "template unsaved": ("template", unsaved_template, {"body": None}),
    "template another model": ("template", another_model_instance, {"body": None}),
    "subject bytes": ("subject", b"Your quote", {"channel": "email"}),
    "subject int": ("subject", 42, {"channel": "email"}),
    "subject NUL": ("subject", "Your\x00quote", {"channel": "email"}),
    "subject surrogate": ("subject", "Your quote \udfff", {"channel": "email"}),
    "body int": ("body", 42, {}),
    "body bytes": ("body", b"Your installer is on the way", {}),
    "body list": ("body", ["Your installer"], {}),
    "body dict": ("body", {"text": "hi"}, {}),
    "body NUL": ("body", "Your installer\x00 is on the way", {}),
    "body surrogate": ("body", "Your installer \ud800 is on the way", {}),
    "context list": ("context", ["day"], {"template": "reminder_sms", "body": None}),
    "context str": ("context", "day=Friday", {"template": "reminder_sms", "body": None}),
    "context_type int": ("context_type", 3, {}),
    "context_type bytes": ("context_type", b"survey", {}),
    "context_type NUL": ("context_type", "survey\x00", {}),
    "context_id int": ("context_id", 42, {}),
    "context_id float": ("context_id", 4.2, {}),
    "context_id bytes": ("context_id", uuid.uuid4().bytes, {}),
    "context_id NUL": ("context_id", f"{uuid.uuid4()}\x00", {}),
    "context_id surrogate": ("context_id", "\ud800", {}),
    "idempotency_key int": ("idempotency_key", 42, {}),
    "idempotency_key bytes": ("idempotency_key", b"survey-42", {}),
    "idempotency_key NUL": ("idempotency_key", "survey-\x0042", {}),
    "idempotency_key surrogate": ("idempotency_key", "survey-\ud83d", {}),
    "recipient unsaved": ("recipient", unsaved_user, {}),
    "recipient deleted": ("recipient", deleted_user, {}),
    "recipient anonymous": ("recipient", AnonymousUser, {}),
    "recipient another model": ("recipient", another_model_instance, {}),
    "recipient str": ("recipient", "siobhan@example.com", {}),
    "recipient int": ("recipient", 1, {}),
    "recipient None": ("recipient", None, {}),
}


@pytest.fixture
def reminder_template():
    return NotificationTemplateFactory(
        name="reminder_sms", channel="sms", body_template="Hi {{ recipient.first_name }}"
    )


@pytest.mark.parametrize(
    ("argument", "bad", "needs"), list(BAD_MESSAGES.values()), ids=list(BAD_MESSAGES)
)
@pytest.mark.parametrize("through", ["notify", "notify_many"])
def test_notify_refuses_bad_input_and_leaves_no_trace(
    no_trace, reminder_template, argument, bad, needs, through
):
    user = UserFactory(phone=CUSTOMER)
    call: dict[str, Any] = {"recipient": user, "channel": "sms", "body": "Hello"}
    if needs.get("channel") == "email":
        call["subject"] = "Hello"
    call |= needs
    call[argument] = bad() if callable(bad) else bad
    recipient, channel = call.pop("recipient"), call.pop("channel")
    if through == "notify_many":
        # One good recipient first: nothing is written for it either.
        recipient, send = [UserFactory(), recipient], notify_many
    else:
        send = notify
    with no_trace, pytest.raises(InvalidMessageError) as excinfo:
        send(recipient, channel, **call)
    assert_names(excinfo, argument)


NOT_A_LIST_OF_USERS = {
    "one user": UserFactory,
    "a string": lambda: "user1,user2",
    "None": lambda: None,
    "an int": lambda: 3,
    "a dict": lambda: {"user": UserFactory()},
}


@pytest.mark.parametrize("make", list(NOT_A_LIST_OF_USERS.values()), ids=list(NOT_A_LIST_OF_USERS))
def test_notify_many_needs_a_list_of_users(no_trace, make):
    recipients = make()
    with no_trace, pytest.raises(InvalidMessageError) as excinfo:
        notify_many(recipients, "sms", body="Power is off in your area")
    assert_names(excinfo, "recipients")


def test_one_deleted_user_among_many_stops_the_whole_call(no_trace, django_assert_max_num_queries):
    users = [*UserFactory.create_batch(5), deleted_user(), *UserFactory.create_batch(5)]
    # Type checks cost nothing; whether the rows exist is one count for all eleven, and
    # only because one is short, a second query to name it.
    with no_trace, django_assert_max_num_queries(2), pytest.raises(InvalidMessageError) as exc:
        notify_many(users, "sms", body="Power is off in your area")
    assert_names(exc, "recipient")
    assert str(users[5].pk) in str(exc.value)


def test_text_a_template_makes_is_checked_before_it_is_stored(no_trace, reminder_template):
    # The user instance carries a value that was never saved: the database could not
    # store it, and it is what the template puts in the body.
    user = UserFactory()
    user.first_name = "Siobhan\x00"
    with no_trace, pytest.raises(InvalidMessageError) as excinfo:
        notify(user, "sms", template="reminder_sms")
    assert "NUL" in str(excinfo.value)


def test_lazy_translated_text_is_text(django_capture_on_commit_callbacks):
    user = UserFactory(phone=CUSTOMER)
    with django_capture_on_commit_callbacks(execute=True):
        n = notify(user, "email", subject=gettext_lazy("Your quote"), body=gettext_lazy("Thanks"))
    n.refresh_from_db()
    assert (n.subject, n.body, n.status) == ("Your quote", "Thanks", "sent")


# -- log_call() and place_call() ------------------------------------------------------------

BAD_CALLS: dict[str, tuple[str, Any]] = {
    "caller unsaved": ("caller", unsaved_user),
    "caller deleted": ("caller", deleted_user),
    "caller anonymous": ("caller", AnonymousUser),
    "caller another model": ("caller", another_model_instance),
    "caller str": ("caller", "staff@example.com"),
    "caller None": ("caller", None),
    "callee_phone int": ("callee_phone", 447700900123),
    "callee_phone bytes": ("callee_phone", CUSTOMER.encode()),
    "callee_phone NUL": ("callee_phone", CUSTOMER + "\x00"),
    "callee_phone surrogate": ("callee_phone", CUSTOMER + "\ud800"),
    "callee_phone letters": ("callee_phone", "+44 7700 FLOWERS"),
    "callee_phone ext.": ("callee_phone", "+44 7700 900123 ext. 5"),
    "callee_phone x": ("callee_phone", "+44 7700 900123 x5"),
    "callee_phone ;ext=": ("callee_phone", "+44 7700 900123;ext=5"),
    "call_type list": ("call_type", ["introductory"]),
    "call_type bytes": ("call_type", b"introductory"),
    "call_type int": ("call_type", 1),
    "call_type NUL": ("call_type", "introductory\x00"),
    "context_type int": ("context_type", 3),
    "context_type None": ("context_type", None),
    "context_type bytes": ("context_type", b"lead"),
    "context_type NUL": ("context_type", "lead\x00"),
    "context_type surrogate": ("context_type", "lead\udc80"),
    "context_id int": ("context_id", 42),
    "context_id None": ("context_id", None),
    "context_id bytes": ("context_id", uuid.uuid4().bytes),
    "context_id NUL": ("context_id", f"{uuid.uuid4()}\x00"),
    "notes int": ("notes", 5),
    "notes bytes": ("notes", b"Confirmed"),
    "notes list": ("notes", ["Confirmed"]),
    "notes NUL": ("notes", "Confirmed\x00 Tuesday"),
    "notes surrogate": ("notes", "Confirmed \ud800"),
}

#: Only log_call() takes these.
BAD_CALL_RESULTS: dict[str, tuple[str, Any]] = {
    "outcome int": ("outcome", 0),
    "outcome bytes": ("outcome", b"connected"),
    "outcome list": ("outcome", ["connected"]),
    "outcome NUL": ("outcome", "connected\x00"),
    "duration_seconds above 2**31-1": ("duration_seconds", INTEGER_FIELD_MAX + 1),
    "duration_seconds far above": ("duration_seconds", 10**20),
    "duration_seconds too long to print": ("duration_seconds", 10**5000),
    "duration_seconds negative": ("duration_seconds", -1),
    "duration_seconds bool": ("duration_seconds", True),
    "duration_seconds float": ("duration_seconds", 95.0),
    "duration_seconds str": ("duration_seconds", "95"),
}


def call_arguments(staff: Any) -> dict[str, Any]:
    return {
        "caller": staff,
        "callee_phone": CUSTOMER,
        "call_type": "introductory",
        "context_type": "lead",
        "context_id": uuid.uuid4(),
        "notes": "",
    }


@pytest.mark.parametrize(
    ("argument", "bad"),
    list(BAD_CALLS.values()) + list(BAD_CALL_RESULTS.values()),
    ids=list(BAD_CALLS) + list(BAD_CALL_RESULTS),
)
def test_log_call_refuses_bad_input_and_leaves_no_trace(no_trace, argument, bad):
    arguments = call_arguments(StaffUserFactory(phone="+447700900999"))
    arguments[argument] = bad() if callable(bad) else bad
    with no_trace, pytest.raises(InvalidCallError) as excinfo:
        log_call(**arguments)
    assert_names(excinfo, argument)


@pytest.mark.parametrize(("argument", "bad"), list(BAD_CALLS.values()), ids=list(BAD_CALLS))
def test_place_call_refuses_bad_input_and_leaves_no_trace(no_trace, argument, bad):
    arguments = call_arguments(StaffUserFactory(phone="+447700900999"))
    arguments[argument] = bad() if callable(bad) else bad
    with no_trace, pytest.raises(InvalidCallError) as excinfo:
        place_call(**arguments)
    assert_names(excinfo, argument)


def test_place_call_refuses_a_caller_phone_with_letters(no_trace):
    arguments = call_arguments(StaffUserFactory(phone="+44 7700 CALLME"))
    with no_trace, pytest.raises(InvalidCallError) as excinfo:
        place_call(**arguments)
    assert_names(excinfo, "caller")


def test_the_edges_of_what_a_call_log_stores():
    staff = StaffUserFactory()
    call_log = log_call(
        **call_arguments(staff) | {"notes": gettext_lazy("Left a message")},
        outcome=None,
        duration_seconds=INTEGER_FIELD_MAX,
    )
    call_log.refresh_from_db()
    assert (call_log.duration_seconds, call_log.outcome) == (INTEGER_FIELD_MAX, "")
    assert call_log.notes == "Left a message"
    assert log_call(**call_arguments(staff), duration_seconds=0).duration_seconds == 0


def test_checking_the_caller_costs_one_query(django_assert_num_queries):
    staff = StaffUserFactory()
    with django_assert_num_queries(2):  # does the caller's row exist; the insert
        log_call(**call_arguments(staff))


# -- phone numbers ----------------------------------------------------------------------------

REFUSED_NUMBERS = {
    "keypad letters": ("+44 7700 FLOWERS", "letters"),
    "letters that would fit": ("+44 7700 9OO123", "letters"),
    "ext.": ("+44 7700 900123 ext. 5", "extension"),
    "x": ("+44 7700 900123 x5", "extension"),
    ";ext=": ("+44 7700 900123;ext=5", "extension"),
    "#": ("+44 7700 900123 #5", "extension"),
    "pause and digits": ("+44 7700 900123,,5", "extension"),
    "tel: URI": ("tel:+44-7700-900123", "letters"),
    "a trailing remark": ("+44 7700 900123 !", "'!'"),
    "NUL": ("+44 7700 900123\x00", "'\\x00'"),
    "not a string": (b"+447700900123", "string"),
}


@pytest.mark.parametrize(
    ("raw", "reason"), list(REFUSED_NUMBERS.values()), ids=list(REFUSED_NUMBERS)
)
def test_normalise_phone_refuses_letters_and_extensions(raw, reason):
    with pytest.raises(InvalidPhoneNumberError, match=re.escape(reason)):
        normalise_phone(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "+447700900123",
        "+44 7700 900123",
        "+44 (0)7700 900123",
        "+44-7700-900123",
        "+44\u00a07700\u00a0900123",
        "+\uff14\uff14\uff17\uff17\uff10\uff10\uff19\uff10\uff10\uff11\uff12\uff13",
        "07700 900123",
    ],
)
def test_normalise_phone_still_reads_written_numbers(raw):
    assert normalise_phone(raw) == CUSTOMER


@pytest.mark.parametrize("stored", ["+44 7700 FLOWERS", "+44 7700 900123 ext. 5"])
def test_a_stored_phone_with_letters_fails_at_delivery(send, stored):
    n = send(UserFactory(phone=stored), "sms", body="Your installer is on the way")
    (receipt,) = n.receipts.all()
    assert (n.status, receipt.status, receipt.error_code) == ("failed", "failed", "invalid_phone")
    assert repr(stored) in receipt.error_message
    assert chargesol_notifications.outbox == []
