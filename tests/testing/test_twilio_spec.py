"""The committed slice of Twilio's OpenAPI description, and the rules read from its prose."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from chargesol_notifications.testing.twilio import spec
from chargesol_notifications.testing.twilio.validation import (
    CALLS,
    DOCUMENTED_ENUMS,
    DOCUMENTED_RANGES,
)

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "twilio"
DATA = Path(spec.__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def full():
    source = SHARED / "twilio_api_v2010.json"
    if not source.exists():
        pytest.skip("Twilio's full OpenAPI description is not checked out beside the project")
    return json.loads(source.read_text(encoding="utf-8"))


def test_committed_slice_is_what_the_script_extracts(full):
    committed = (DATA / "twilio_api_v2010_subset.json").read_text(encoding="utf-8")
    assert committed == spec.render(spec.extract(full))


def test_twilio_licence_ships_with_the_slice():
    licence = (DATA / "TWILIO_LICENSE").read_text(encoding="utf-8")
    assert "MIT License" in licence
    assert "Copyright (C) 2023, Twilio, Inc." in licence
    if (SHARED / "LICENSE").exists():
        assert licence == (SHARED / "LICENSE").read_text(encoding="utf-8")
    assert "MIT" in spec.load()["x-chargesol"]["license"]


def test_slice_keeps_the_operations_and_schemas_the_standin_uses():
    subset = spec.load()
    assert set(subset["paths"]) == {path for path, _ in spec.OPERATIONS}
    schemas = subset["components"]["schemas"]
    for name in ("api.v2010.account.message", "api.v2010.account.call", "call_enum_event"):
        assert name in schemas
    assert spec.request_schema(spec.MESSAGES_PATH)["title"] == "CreateMessageRequest"
    assert spec.request_schema(spec.CALLS_PATH)["required"] == ["To", "From"]


def _description(kind, name):
    path = spec.MESSAGES_PATH if kind != CALLS else spec.CALLS_PATH
    return spec.request_schema(path)["properties"][name]["description"]


@pytest.mark.parametrize(
    ("kind", "name"),
    [(kind, name) for kind, enums in DOCUMENTED_ENUMS.items() for name in enums],
)
def test_documented_enums_still_match_the_descriptions(kind, name):
    """If Twilio changes ``Can be: `a`, `b``` in a description, this test says so."""
    quoted = re.findall(r"`([^`]+)`", _description(kind, name))
    for value in DOCUMENTED_ENUMS[kind][name]:
        assert value in quoted, f"{name}: {value!r} no longer documented"


@pytest.mark.parametrize(
    ("kind", "name"),
    [(kind, name) for kind, ranges in DOCUMENTED_RANGES.items() for name in ranges],
)
def test_documented_ranges_still_match_the_descriptions(kind, name):
    text = _description(kind, name).replace(",", "")
    low, high = DOCUMENTED_RANGES[kind][name]
    assert str(high) in text
    assert low == 1 or str(low) in text


def test_status_callback_event_values_come_from_the_spec():
    assert spec.schema("call_enum_event")["enum"] == [
        "initiated",
        "ringing",
        "answered",
        "completed",
    ]
    assert "`initiated`, `ringing`, `answered`, and `completed`" in _description(
        CALLS, "StatusCallbackEvent"
    )
