"""The slice of Twilio's OpenAPI description that the stand-in checks requests against.

Twilio publishes the 2010-04-01 API as one 1.8 MB OpenAPI file. The stand-in needs only the
two create operations ChargeSol uses (``CreateMessage``, ``CreateCall``), the two fetches,
the Messages list (``ListMessage``: delivery asks it after an answer was lost) and the
response schemas with their enums. :func:`extract` cuts exactly that slice, and the
result is committed as ``testing/data/twilio_api_v2010_subset.json`` (with Twilio's MIT
licence beside it) so an installed app does not depend on the full file. Regenerate it with::

    python -m chargesol_notifications.testing.twilio.spec path/to/twilio_api_v2010.json

A test compares the committed copy with what :func:`extract` produces from the full file,
so a newer Twilio description shows up as a failing test rather than as silent drift.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

DATA_PACKAGE = "chargesol_notifications.testing"
DATA_FILE = "data/twilio_api_v2010_subset.json"
LICENSE_FILE = "data/TWILIO_LICENSE"

MESSAGES_PATH = "/2010-04-01/Accounts/{AccountSid}/Messages.json"
CALLS_PATH = "/2010-04-01/Accounts/{AccountSid}/Calls.json"
MESSAGE_PATH = "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json"
CALL_PATH = "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json"

#: (path, method) of every operation the stand-in speaks.
OPERATIONS: tuple[tuple[str, str], ...] = (
    (MESSAGES_PATH, "post"),
    (MESSAGES_PATH, "get"),
    (CALLS_PATH, "post"),
    (MESSAGE_PATH, "get"),
    (CALL_PATH, "get"),
)

#: Schemas kept although no kept operation references them: ``call_enum_event`` lists the
#: values of ``StatusCallbackEvent``, which the request schema types as a bare string.
EXTRA_SCHEMAS: tuple[str, ...] = ("call_enum_event",)

#: Operation keys worth keeping; examples and CORS headers only add weight.
_OPERATION_KEYS = ("operationId", "summary", "description", "parameters", "requestBody", "security")

_NOTE = {
    "source": (
        "Extracted from Twilio's OpenAPI description of the 2010-04-01 REST API "
        "(twilio_api_v2010.json): the CreateMessage, ListMessage, CreateCall, FetchMessage and "
        "FetchCall operations and the schemas they use."
    ),
    "license": (
        "Copyright (C) 2023, Twilio, Inc. Distributed under the MIT License; the full text "
        "is in TWILIO_LICENSE beside this file."
    ),
    "generated_by": "python -m chargesol_notifications.testing.twilio.spec <twilio_api_v2010.json>",
}


def _refs(node: Any) -> set[str]:
    """Every schema name referenced (``#/components/schemas/<name>``) inside ``node``."""
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def _trim_operation(operation: dict[str, Any]) -> dict[str, Any]:
    trimmed = {key: operation[key] for key in _OPERATION_KEYS if key in operation}
    trimmed["responses"] = {}
    for status, response in operation["responses"].items():
        content = response.get("content", {}).get("application/json", {})
        kept: dict[str, Any] = {"description": response.get("description", "")}
        if "schema" in content:
            kept["content"] = {"application/json": {"schema": content["schema"]}}
        trimmed["responses"][status] = kept
    return trimmed


def extract(full: dict[str, Any]) -> dict[str, Any]:
    """Cut the stand-in's slice out of Twilio's full OpenAPI description."""
    paths: dict[str, dict[str, Any]] = {}
    for path, method in OPERATIONS:
        paths.setdefault(path, {})[method] = _trim_operation(full["paths"][path][method])

    all_schemas = full["components"]["schemas"]
    wanted = _refs(paths) | set(EXTRA_SCHEMAS)
    schemas: dict[str, Any] = {}
    while wanted:
        name = wanted.pop()
        if name not in schemas:
            schemas[name] = all_schemas[name]
            wanted |= _refs(schemas[name]) - schemas.keys()

    return {
        "x-chargesol": _NOTE,
        "openapi": full["openapi"],
        "info": {key: full["info"][key] for key in ("title", "version")},
        "servers": full["servers"],
        "paths": paths,
        "components": {
            "securitySchemes": full["components"]["securitySchemes"],
            "schemas": dict(sorted(schemas.items())),
        },
    }


def render(subset: dict[str, Any]) -> str:
    """The exact text committed for ``subset`` (stable, so regenerating is a no-op)."""
    return json.dumps(subset, indent=1, ensure_ascii=False) + "\n"


@cache
def load() -> dict[str, Any]:
    """The committed slice, read once from the installed package."""
    text = resources.files(DATA_PACKAGE).joinpath(DATA_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def schema(name: str) -> dict[str, Any]:
    """A component schema of the committed slice by name."""
    return load()["components"]["schemas"][name]


def request_schema(path: str) -> dict[str, Any]:
    """The form body schema (``CreateMessageRequest`` / ``CreateCallRequest``) of a create."""
    body = load()["paths"][path]["post"]["requestBody"]
    return body["content"]["application/x-www-form-urlencoded"]["schema"]


def query_parameters(path: str) -> dict[str, dict[str, Any]]:
    """The query parameters of a list (``GET``) operation, by name, with their schemas."""
    parameters = load()["paths"][path]["get"]["parameters"]
    return {p["name"]: p for p in parameters if p.get("in") == "query"}


def list_response_schema(path: str) -> dict[str, Any]:
    """The schema of a list operation's 200 answer (``ListMessageResponse``)."""
    response = load()["paths"][path]["get"]["responses"]["200"]
    return response["content"]["application/json"]["schema"]


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    """Follow a ``$ref`` to its component schema; other schemas are returned unchanged."""
    ref = node.get("$ref")
    if isinstance(ref, str):
        return resolve(schema(ref.rsplit("/", 1)[1]))
    return node


def main(argv: list[str] | None = None) -> int:
    """Regenerate the committed slice (and licence) from Twilio's full description."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m chargesol_notifications.testing.twilio.spec FULL.json")
        return 2
    source = Path(args[0])
    full = json.loads(source.read_text(encoding="utf-8"))
    target = Path(str(resources.files(DATA_PACKAGE).joinpath(DATA_FILE)))
    target.write_text(render(extract(full)), encoding="utf-8")
    licence = source.with_name("LICENSE")
    if licence.exists():
        target.with_name("TWILIO_LICENSE").write_text(
            licence.read_text(encoding="utf-8"), encoding="utf-8"
        )
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
