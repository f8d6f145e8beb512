"""psycopg's compiled loader for delivery's timestamps on PostgreSQL: the same values as
Django's loader, and Django's loader back afterwards."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, transaction
from django.test.utils import override_settings

from chargesol_notifications.models import Notification
from chargesol_notifications.pg_timestamps import native_timestamps
from chargesol_notifications.wave_preparation import claim

from .factories import NotificationFactory, UserFactory

pytestmark = pytest.mark.django_db

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL")

#: Awkward moments: a leap day, the end of a year, before 1970, microseconds at both ends.
MOMENTS = [
    "2028-02-29 23:59:59.999999+00",
    "1969-12-31 23:00:00.000001+00",
    "2026-06-30 12:34:56+00",
    "2026-10-25 01:30:00+01",  # an offset other than UTC, as text
]


def timestamptz_loader() -> type:
    from psycopg import postgres
    from psycopg.pq import Format

    oid = postgres.types["timestamptz"].oid
    return connection.connection.adapters.get_loader(oid, Format.TEXT)


def read_moments() -> list[datetime.datetime]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT value::timestamptz FROM unnest(%s::text[]) AS value", [list(MOMENTS)]
        )
        return [row[0] for row in cursor.fetchall()]


@postgresql_only
def test_inside_the_values_are_django_s_to_the_microsecond_and_tzinfo():
    as_django_reads = read_moments()
    with native_timestamps(DEFAULT_DB_ALIAS):
        as_psycopg_reads = read_moments()
    assert as_psycopg_reads == as_django_reads
    assert [value.tzinfo for value in as_psycopg_reads] == [datetime.UTC] * len(MOMENTS)
    assert [value.tzinfo for value in as_django_reads] == [datetime.UTC] * len(MOMENTS)


@postgresql_only
def test_psycopg_s_loader_is_used_inside_and_django_s_is_back_afterwards():
    connection.ensure_connection()
    django_loader = timestamptz_loader()
    with native_timestamps(DEFAULT_DB_ALIAS):
        inside = timestamptz_loader()
    assert inside is not django_loader
    assert inside.timezone is datetime.UTC  # what Django checks when it opens a cursor
    assert timestamptz_loader() is django_loader


@postgresql_only
def test_django_s_loader_is_back_after_an_error_inside():
    connection.ensure_connection()
    django_loader = timestamptz_loader()
    with pytest.raises(RuntimeError), native_timestamps(DEFAULT_DB_ALIAS):
        raise RuntimeError("a failing query")
    assert timestamptz_loader() is django_loader


@postgresql_only
def test_without_time_zone_support_nothing_changes():
    with override_settings(USE_TZ=False):
        connection.ensure_connection()
        django_loader = timestamptz_loader()
        with native_timestamps(DEFAULT_DB_ALIAS):
            assert timestamptz_loader() is django_loader
            naive = read_moments()
    assert all(value.tzinfo is None for value in naive)


def test_a_claim_loads_the_timestamps_the_orm_loads():
    recipient = UserFactory()
    created = [
        NotificationFactory(recipient=recipient, channel="sms", scheduled_for=None)
        for _ in range(3)
    ]
    with transaction.atomic():
        claimed = claim([n.pk for n in created], {})
    for notification in claimed:
        stored = Notification.objects.get(pk=notification.pk)
        assert notification.created_at == stored.created_at
        assert notification.created_at.tzinfo is stored.created_at.tzinfo
        assert notification.recipient.date_joined == stored.recipient.date_joined
        assert notification.recipient.date_joined.tzinfo is stored.recipient.date_joined.tzinfo


def test_elsewhere_it_changes_nothing():
    with native_timestamps(DEFAULT_DB_ALIAS):
        assert Notification.objects.filter(pk=uuid.uuid4()).count() == 0
