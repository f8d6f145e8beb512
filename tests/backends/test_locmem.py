"""The locmem backend's ids are unique across processes, as receipts need them to be."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

import chargesol_notifications
from chargesol_notifications.models import DeliveryReceipt

from ..factories import NotificationFactory, UserFactory

REPO_ROOT = Path(__file__).resolve().parents[2]

#: Sends three messages through a fresh LocmemBackend and prints their ids.
SEND_THREE = textwrap.dedent(
    """
    import uuid
    import django
    django.setup()
    from chargesol_notifications.backends.base import OutgoingMessage
    from chargesol_notifications.backends.locmem import LocmemBackend
    backend = LocmemBackend(channel="sms")
    for _ in range(3):
        print(backend.send_message(OutgoingMessage(uuid.uuid4(), "sms", "+447700900123", "x")))
    """
)


def run_python(code: str, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "PYTHONPATH": str(REPO_ROOT),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_ids_of_two_processes_never_collide():
    ids = run_python(SEND_THREE).split() + run_python(SEND_THREE).split()
    assert len(ids) == len(set(ids)) == 6
    assert all(id_.startswith("locmem-") for id_ in ids)


@pytest.mark.django_db
def test_each_message_gets_an_id_of_its_own():
    n = NotificationFactory(recipient=UserFactory(), channel="sms")
    call_command("deliver_queued", min_age=0, stdout=StringIO())
    (message,) = chargesol_notifications.outbox
    assert message.notification_id == n.pk
    receipt = n.receipts.get()
    assert receipt.gateway_message_id.startswith("locmem-")
    prefix, count = receipt.gateway_message_id.rsplit("-", 1)
    assert len(prefix) == len("locmem-") + 32
    assert count.isdigit()


def test_a_forked_child_draws_a_prefix_of_its_own():
    """Counting on from the parent's prefix and count, parent and child would give the
    same ids."""
    from chargesol_notifications.backends.locmem import new_id

    new_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: write two ids and leave at once
        os.write(write, f"{new_id()} {new_id()}".encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        child = pipe.read().split()
    parent = [new_id(), new_id()]
    assert len(set(child + parent)) == 4
    assert child[0].rsplit("-", 1)[0] != parent[0].rsplit("-", 1)[0]


def database_url() -> str:
    db = connection.settings_dict
    scheme = {"postgresql": "postgres", "mysql": "mysql"}[connection.vendor]
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"{scheme}://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.mark.worker
@pytest.mark.skipif(
    connection.vendor == "sqlite", reason="the processes need a database server to share"
)
@pytest.mark.django_db(transaction=True)
def test_deliver_queued_in_two_processes_records_every_send():
    """Each process delivers one notification: with ids counted from 1 in every process,
    the second send's receipt was taken for a duplicate and its notification stayed
    queued, to be sent again on every run."""
    first = NotificationFactory(recipient=UserFactory(), channel="sms", body="first")
    deliver = "from django.core.management import call_command as c; import django; "
    deliver += "django.setup(); c('deliver_queued', min_age=0)"
    assert "1 sent" in run_python(deliver, DATABASE_URL=database_url())
    second = NotificationFactory(recipient=UserFactory(), channel="sms", body="second")
    assert "1 sent" in run_python(deliver, DATABASE_URL=database_url())
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("sent", "sent")
    ids = DeliveryReceipt.objects.filter(status="sent").values_list("gateway_message_id", flat=True)
    assert len(set(ids)) == 2
