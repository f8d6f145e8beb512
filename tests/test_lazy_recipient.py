"""``recipient`` as notify()/notify_many() give it: the allow-listed attributes, each read
from the user when a template first asks for it; errors as the eager mapping has them."""

from __future__ import annotations

import pytest

from chargesol_notifications import notify, notify_many
from chargesol_notifications.exceptions import ConfigurationError, InvalidContextError
from chargesol_notifications.models import Notification
from chargesol_notifications.recipient_data import LazyRecipient, recipient_context
from tests.factories import NotificationTemplateFactory, UserFactory

pytestmark = pytest.mark.django_db


class Counting:
    """A user-like object that counts which attributes were read."""

    def __init__(self) -> None:
        self.reads: list[str] = []

    @property
    def first_name(self) -> str:
        self.reads.append("first_name")
        return "Ana"

    def get_full_name(self) -> str:
        self.reads.append("get_full_name")
        return "Ana Bell"


PAIRS = {"first_name": "first_name", "full_name": "get_full_name", "email": "email"}


def test_only_what_a_template_asks_for_is_read():
    user = Counting()
    recipient = LazyRecipient(user, PAIRS)
    assert recipient["first_name"] == "Ana"
    assert recipient["first_name"] == "Ana"  # read once
    assert user.reads == ["first_name"]


def test_iterating_reads_everything_in_the_allow_lists_order_leaving_out_what_is_missing():
    recipient = LazyRecipient(Counting(), PAIRS)
    assert recipient.as_dict() == {"first_name": "Ana", "full_name": "Ana Bell"}
    assert list(recipient) == ["first_name", "full_name"]
    assert "email" not in recipient
    assert len(recipient) == 2


def test_notify_many_renders_the_same_as_the_eager_mapping():
    template = NotificationTemplateFactory(
        name="all_of_it",
        channel="sms",
        body_template="{{ recipient.first_name }} | {{ recipient }}",
    )
    user = UserFactory(first_name="Freya", last_name="Lind")
    (n,) = notify_many([user], "sms", template=template)
    assert n.body == f"Freya | {recipient_context(user)}"


def test_an_unstorable_value_is_an_invalid_context_error_not_a_missing_placeholder():
    NotificationTemplateFactory(
        name="hi", channel="sms", body_template="Hi {{ recipient.first_name }}"
    )
    user = UserFactory()
    # Set on the object only: PostgreSQL refuses to store a NUL at all.
    user.first_name = "Fr\x00eya"
    with pytest.raises(InvalidContextError, match="NUL"):
        notify(user, "sms", template="hi")
    assert Notification.objects.count() == 0


def test_a_relation_is_refused_even_when_no_template_uses_it(settings):
    settings.CHARGESOL_NOTIFICATIONS = {
        "QUIET_HOURS": None,
        "RECIPIENT_CONTEXT": ["first_name", "leads"],
    }
    NotificationTemplateFactory(
        name="hi", channel="sms", body_template="Hi {{ recipient.first_name }}"
    )
    with pytest.raises(ConfigurationError, match="'leads' is a relation, not plain data"):
        notify_many([UserFactory()], "sms", template="hi")
    assert Notification.objects.count() == 0


def test_a_method_returning_a_model_is_a_configuration_error_when_used(settings):
    settings.CHARGESOL_NOTIFICATIONS = {
        "QUIET_HOURS": None,
        "RECIPIENT_CONTEXT": {"me": "get_self"},
    }
    user = UserFactory()
    user.get_self = lambda: user  # what a project's helper method might return
    NotificationTemplateFactory(name="me", channel="sms", body_template="{{ recipient.me }}")
    with pytest.raises(ConfigurationError, match="not plain data"):
        notify(user, "sms", template="me")
    assert Notification.objects.count() == 0
