"""The installed app stays lean: pytest belongs to the ``testing`` extra only.

The imports run in a fresh interpreter, since this one has pytest loaded already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# django.setup() with the app installed, then every module of the package inside (or
# outside) chargesol_notifications.testing, pytest plugins aside; fails if pytest came too.
IMPORT_MODULES = """
import importlib, json, pathlib, sys
import django

django.setup()
import chargesol_notifications

root = pathlib.Path(chargesol_notifications.__file__).parent
inside_testing = sys.argv[1] == "testing"
names = []
for path in sorted(root.rglob("*.py")):
    parts = ["chargesol_notifications", *path.relative_to(root).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    if (len(parts) > 1 and parts[1] == "testing") == inside_testing:
        if parts[-1] != "pytest_plugin":
            names.append(".".join(parts))
for name in names:
    importlib.import_module(name)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("pytest", "_pytest"))
assert not loaded, f"importing the app loaded {loaded[:5]}"
print(json.dumps(names))
"""


def import_modules(which: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_MODULES, which],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_app_never_imports_pytest():
    imported = import_modules("app")
    assert {
        "chargesol_notifications",
        "chargesol_notifications.admin",
        "chargesol_notifications.checks",
        "chargesol_notifications.backends.locmem",
        "chargesol_notifications.backends.twilio.messages",
        "chargesol_notifications.webhooks.twilio",
        "chargesol_notifications.management.commands.deliver_queued",
    } <= set(imported)
    assert not [name for name in imported if ".testing" in name]


def test_the_twilio_standin_and_the_outbox_helpers_never_import_pytest():
    # The demo runs the stand-in, installed without the testing extra.
    imported = import_modules("testing")
    assert {
        "chargesol_notifications.testing.outbox",
        "chargesol_notifications.testing.twilio",
        "chargesol_notifications.testing.twilio.local",
        "chargesol_notifications.testing.twilio.__main__",
        "chargesol_notifications.testing.twilio.server",
    } <= set(imported)


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_test_extra_brings_the_testing_extra():
    extras = pyproject()["project"]["optional-dependencies"]
    assert {"pytest>=8", "pytest-django>=4.9"} <= set(extras["testing"])
    assert "chargesol-notifications[testing]" in extras["test"]
    assert not [r for r in extras["example"] if r.startswith(("pytest", "chargesol"))]
    assert not [r for r in pyproject()["project"]["dependencies"] if "pytest" in r]


def test_pytest_loads_the_plugin_only_when_a_project_asks():
    # No pytest11 entry point: see docs/testing.rst, "The pytest plugin".
    assert "entry-points" not in pyproject()["project"]


def test_package_data_lists_files_that_exist():
    package = ROOT / "chargesol_notifications"
    patterns = pyproject()["tool"]["setuptools"]["package-data"]["chargesol_notifications"]
    for pattern in patterns:
        assert [p for p in package.glob(pattern) if p.is_file()], pattern
    for name in pyproject()["project"]["license-files"]:
        assert (ROOT / name).is_file(), name
