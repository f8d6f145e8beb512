"""in_values(): a list of values for ``__in`` as one query parameter where the database
can unpack it."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.db.models.expressions import RawSQL

from chargesol_notifications.models import Notification
from chargesol_notifications.value_lists import in_values

from .factories import NotificationFactory

pytestmark = pytest.mark.django_db

PK = Notification._meta.pk


def test_the_rows_found_are_those_of_the_values():
    notifications = NotificationFactory.create_batch(5)
    wanted = [notifications[0].pk, notifications[3].pk, uuid.uuid4()]
    found = Notification.objects.filter(pk__in=in_values(PK, wanted, "default"))
    assert {n.pk for n in found} == {notifications[0].pk, notifications[3].pk}


def test_many_values_go_as_one_parameter_where_the_database_unpacks_lists():
    notifications = NotificationFactory.create_batch(3)
    ids = [n.pk for n in notifications] + [uuid.uuid4() for _ in range(297)]
    parameters = []

    def record(execute, sql, params, many, context):
        parameters.append(len(params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        assert Notification.objects.filter(pk__in=in_values(PK, ids, "default")).count() == 3
    if connection.vendor in ("postgresql", "sqlite"):
        assert isinstance(in_values(PK, ids, "default"), RawSQL)
        assert parameters == [1]
    else:
        assert in_values(PK, ids, "default") == ids
        assert parameters == [300]


def test_one_value_and_none_stay_a_list():
    assert in_values(PK, [], "default") == []
    one = [uuid.uuid4()]
    assert in_values(PK, one, "default") == one


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's json_each form")
def test_values_json_cannot_hold_stay_a_list_on_sqlite():
    from django.db import models

    field = models.BinaryField()
    field.set_attributes_from_name("data")
    values = [b"\x00\x01", b"\x02"]
    assert in_values(field, values, "default") == values
