"""Objects a delivery wave loads without ``Model.__init__``: the same objects, and
``from_db()`` wherever ``__init__`` would do more than store the values."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db.models.signals import post_init

from chargesol_notifications import outbox
from chargesol_notifications.delivery import deliver_batch
from chargesol_notifications.model_loading import builder, load_by_pk, loads_plainly
from chargesol_notifications.models import Notification

from .factories import NotificationFactory, UserFactory

pytestmark = pytest.mark.django_db

STATE = ("adding", "db", "fields_cache")


def same_object(loaded, fetched) -> None:
    assert type(loaded) is type(fetched)
    assert {k: v for k, v in vars(loaded).items() if k != "_state"} == {
        k: v for k, v in vars(fetched).items() if k != "_state"
    }
    assert [getattr(loaded._state, a) for a in STATE] == [getattr(fetched._state, a) for a in STATE]


def test_a_user_loaded_by_pk_is_what_the_orm_loads():
    User = get_user_model()
    users = UserFactory.create_batch(3)
    assert loads_plainly(User)
    loaded = load_by_pk(User, "default", [u.pk for u in users] + [users[0].pk])
    assert sorted(loaded) == sorted(u.pk for u in users)
    for user in users:
        same_object(loaded[user.pk], User.objects.get(pk=user.pk))


def test_a_notification_built_from_its_row_is_what_the_orm_loads():
    from chargesol_notifications.model_loading import attnames

    notification = NotificationFactory()
    row = Notification.objects.values_list(*attnames(Notification)).get(pk=notification.pk)
    same_object(builder(Notification, "default")(row), Notification.objects.get(pk=notification.pk))


def test_load_by_pk_of_nothing_makes_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert load_by_pk(get_user_model(), "default", []) == {}


def test_a_post_init_receiver_still_sees_every_object_delivery_loads(settings):
    """With a receiver, the objects come from from_db(), through __init__."""
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "CHANNELS": {
            **settings.CHARGESOL_NOTIFICATIONS["CHANNELS"],
            "sms": {
                "BACKEND": "chargesol_notifications.backends.locmem.LocmemBackend",
                "CONCURRENCY": 8,
            },
        },
    }
    notifications = NotificationFactory.create_batch(3, channel="sms")
    seen: list[object] = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    User = get_user_model()
    post_init.connect(receiver, sender=User)
    post_init.connect(receiver, sender=Notification)
    try:
        assert not loads_plainly(User)
        outbox.clear()
        deliver_batch([n.pk for n in notifications], channel="sms")
    finally:
        post_init.disconnect(receiver, sender=User)
        post_init.disconnect(receiver, sender=Notification)
    assert len(outbox) == 3
    assert {n.pk for n in seen if isinstance(n, Notification)} >= {n.pk for n in notifications}
    assert {u.pk for u in seen if isinstance(u, User)} >= {n.recipient_id for n in notifications}


def test_an_overridden_from_db_is_used():
    class Loaded(Exception):
        pass

    User = get_user_model()

    def from_db(cls, db, field_names, values, **kwargs):
        raise Loaded

    original = User.__dict__.get("from_db")
    User.from_db = classmethod(from_db)
    try:
        assert not loads_plainly(User)
        with pytest.raises(Loaded):
            load_by_pk(User, "default", [UserFactory().pk])
    finally:
        if original is None:
            del User.from_db
        else:
            User.from_db = original
