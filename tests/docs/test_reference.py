"""Everything public is documented: a name added to the code without a page fails here.

What counts as public, read from the code itself:

- every key of ``conf.DEFAULTS``: a ````KEY```` section of docs/settings.rst that states
  its default;
- every system check id the package emits: a row of the checks table of
  docs/settings.rst (and no row for an id the code does not emit);
- every signal of ``signals.py``: a ``.. data::`` entry of docs/reference.rst with a
  ``:param:`` for ``sender`` and for each keyword argument the package sends it with;
- every exception class of ``exceptions.py``: an ``autoexception`` of docs/reference.rst;
- ``chargesol_notifications.__all__``, the public functions of ``calls.py``, and the
  public names of ``chargesol_notifications.testing`` (the outbox helpers, the pytest
  plugins' fixtures, the ``__all__`` of the Twilio and FCM stand-ins): an autodoc (or
  ``.. data::``) entry of docs/reference.rst, which gives the signature and the text;
- every management command and each of its options: ``.. program::`` and ``.. option::``
  in docs/reference.rst;
- every URL name of ``urls.py``: named, with its path, in docs/reference.rst.

The sources are read as text (and the package's modules as syntax trees), so this runs
without building the docs; ``tox -e docs`` builds them with warnings as errors, which
catches an autodoc entry whose target does not import.
"""

from __future__ import annotations

import ast
import datetime
import re
from pathlib import Path

import pytest
from django.dispatch import Signal
from django.urls import URLPattern

import chargesol_notifications
from chargesol_notifications import calls, conf, signals
from chargesol_notifications import exceptions as exceptions_module
from chargesol_notifications import urls as urls_module

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PACKAGE = ROOT / "chargesol_notifications"
REFERENCE = DOCS / "reference.rst"
SETTINGS = DOCS / "settings.rst"

# Public names that work in progress adds together with their documentation, name ->
# where the documentation will come from: each is expected to fail until its page lands
# (an xfail, not strict). Remove a name once it passes.
PENDING: dict[str, str] = {}

DIRECTIVE = re.compile(r"^(?P<indent> *)\.\. (?P<name>[\w:-]+):: *(?P<argument>.*)$")
CONTINUATION = re.compile(r"^ +(?P<target>chargesol_notifications\.[\w.]+)$")
HEADING_UNDERLINE = re.compile(r"^([=\-~^])\1{2,}$")


def pending(names: list[str]) -> list:
    """``names`` as parameters, those in PENDING marked as expected to fail."""
    return [
        pytest.param(name, marks=pytest.mark.xfail(reason=PENDING[name], strict=False))
        if name in PENDING
        else name
        for name in names
    ]


def directive_targets(page: Path) -> dict[str, set[str]]:
    """Directive name -> the targets it documents on ``page`` (every signature line)."""
    found: dict[str, set[str]] = {}
    lines = page.read_text().splitlines()
    for number, line in enumerate(lines):
        if not (match := DIRECTIVE.match(line)):
            continue
        targets = found.setdefault(match["name"], set())
        targets.add(match["argument"].split("(")[0].split()[0] if match["argument"] else "")
        for following in lines[number + 1 :]:
            if not (more := CONTINUATION.match(following)):
                break
            targets.add(more["target"])
    return found


def documented(*directives: str) -> set[str]:
    targets = directive_targets(REFERENCE)
    return set().union(*(targets.get(name, set()) for name in directives))


def entry(page: Path, directive: str, target: str) -> str:
    """The text of one directive's entry: its line and the indented lines after it."""
    lines = page.read_text().splitlines()
    for number, line in enumerate(lines):
        if line == f".. {directive}:: {target}":
            body = [line]
            for following in lines[number + 1 :]:
                if following and not following.startswith(" "):
                    break
                body.append(following)
            return "\n".join(body)
    raise AssertionError(f"{page.name} has no '.. {directive}:: {target}'")


def module_tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def dunder_all(path: Path) -> list[str]:
    for node in module_tree(path).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
        ):
            return list(ast.literal_eval(node.value))
    raise AssertionError(f"{path} has no __all__")


# -- settings -------------------------------------------------------------------------


def settings_section(key: str) -> str:
    """The text under the ````KEY```` heading of settings.rst, up to the next heading."""
    lines = SETTINGS.read_text().splitlines()
    heading = f"``{key}``"
    for number, line in enumerate(lines[:-1]):
        if line == heading and HEADING_UNDERLINE.match(lines[number + 1]):
            body = []
            for index in range(number + 2, len(lines)):
                if index + 1 < len(lines) and HEADING_UNDERLINE.match(lines[index + 1]):
                    break
                body.append(lines[index])
            return "\n".join(body)
    raise AssertionError(f"settings.rst has no section headed {heading}")


def written_default(value: object) -> str | None:
    """How the settings page writes a default, when it is a literal it can show as is."""
    if value is None or isinstance(value, bool | int):
        return f"``{value!r}``"
    if isinstance(value, str):
        return f'``"{value}"``'
    if value in ({}, []):
        return f"``{value!r}``"
    return None


@pytest.mark.parametrize("key", pending(sorted(conf.DEFAULTS)))
def test_every_setting_has_a_section_stating_its_default(key):
    section = settings_section(key)
    paragraphs = [p for p in section.split("\n\n") if p.strip().startswith("Default:")]
    assert paragraphs, f"the {key} section of settings.rst does not say 'Default: ...'"
    default = " ".join(paragraphs[0].split())
    value = conf.DEFAULTS[key]
    if isinstance(value, datetime.timedelta):
        assert str(value.days) in default or str(int(value.total_seconds())) in default, (
            key,
            default,
        )
    elif (written := written_default(value)) is not None:
        assert written in default, f"{key}: the default is {written}, the page says {default}"


# -- system checks ----------------------------------------------------------------------

# A check id as the code writes it: the literal part of f"{TAG}.E001", the whole id, or
# a bare "E040" handed to a helper that builds the id.
CHECK_ID_IN_CODE = re.compile(r"^(?:\.|chargesol_notifications\.)?(?P<id>[EWIC]\d{3})$")
CHECK_ID_IN_TABLE = re.compile(
    r"^   \* - ``chargesol_notifications\.(?P<level>[EWIC])(?P<first>\d{3})``"
    r"(?: *[\N{EN DASH}-] *``(?P=level)(?P<last>\d{3})``)?",
    re.M,
)


def check_ids_in_code() -> set[str]:
    """The ids in every module that uses Django's system checks framework."""
    ids = set()
    for path in PACKAGE.rglob("*.py"):
        if "checks." not in path.read_text():
            continue
        for node in ast.walk(module_tree(path)):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and (match := CHECK_ID_IN_CODE.match(node.value))
            ):
                ids.add(match["id"])
    return ids


def check_ids_in_table() -> set[str]:
    text = SETTINGS.read_text()
    table = text[text.index("\nSystem checks\n") :]
    ids = set()
    for match in CHECK_ID_IN_TABLE.finditer(table):
        last = match["last"] or match["first"]
        ids |= {f"{match['level']}{n:03d}" for n in range(int(match["first"]), int(last) + 1)}
    return ids


def test_the_check_ids_are_found_in_the_code():
    # The pattern must keep finding them; a change of style would make the tests below
    # pass on nothing.
    assert {"E001", "W002", "I007", "E020", "E035"} <= check_ids_in_code()


@pytest.mark.parametrize("check_id", pending(sorted(check_ids_in_code())))
def test_every_check_is_in_the_checks_table(check_id):
    assert check_id in check_ids_in_table(), (
        f"chargesol_notifications.{check_id} is emitted but not in the checks table of settings.rst"
    )


def test_the_checks_table_lists_only_checks_that_exist():
    assert check_ids_in_table() - check_ids_in_code() == set()


# -- signals ----------------------------------------------------------------------------

SIGNALS = sorted(name for name, value in vars(signals).items() if isinstance(value, Signal))


def keywords_sent(signal_name: str) -> set[str]:
    """The keyword arguments the package sends ``signal_name`` with, wherever it does."""
    sent = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(module_tree(path)):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("send", "send_robust")
                and isinstance(node.func.value, ast.Name | ast.Attribute)
                and getattr(node.func.value, "id", getattr(node.func.value, "attr", None))
                == signal_name
            ):
                sent |= {keyword.arg for keyword in node.keywords if keyword.arg}
    return sent


def test_the_signals_are_found():
    assert {"notification_queued", "notification_failed", "receipt_recorded"} <= set(SIGNALS)
    assert keywords_sent("notification_failed") == {"sender", "notification", "receipt", "error"}


@pytest.mark.parametrize("name", pending(SIGNALS))
def test_every_signal_is_in_the_reference_with_its_arguments(name):
    text = entry(REFERENCE, "data", f"chargesol_notifications.signals.{name}")
    arguments = keywords_sent(name) | {"sender"}
    missing = sorted(a for a in arguments if f":param {a}:" not in text)
    assert not missing, f"the reference of {name} lacks :param: for {missing}"


# -- exceptions -------------------------------------------------------------------------

EXCEPTIONS = sorted(
    name
    for name, value in vars(exceptions_module).items()
    if isinstance(value, type)
    and issubclass(value, BaseException)
    and value.__module__ == exceptions_module.__name__
)


@pytest.mark.parametrize("name", EXCEPTIONS)
def test_every_exception_is_in_the_reference(name):
    assert f"chargesol_notifications.exceptions.{name}" in documented("autoexception")


@pytest.mark.parametrize("name", EXCEPTIONS)
def test_the_hierarchy_on_the_reference_names_every_raised_exception(name):
    # The three internal ones never reach a caller; the others are in the family tree.
    if name in {"RenderBudgetExceededError", "MissingPlaceholderError", "UnreadableRecipientError"}:
        pytest.skip("internal, documented as such")
    tree = REFERENCE.read_text().split(".. code-block:: text", 1)[1].split("\n\n\n", 1)[0]
    assert re.search(rf"[─ ]{name}\b", tree), f"{name} is missing from the exception tree"


# -- functions and the test helpers ------------------------------------------------------

AUTODOC = ("autofunction", "autoclass", "autoexception", "autodata", "data", "function")


def public_functions(module: object) -> list[str]:
    return sorted(
        name
        for name, value in vars(module).items()
        if callable(value)
        and not name.startswith("_")
        and getattr(value, "__module__", None) == module.__name__
        and not isinstance(value, type)
    )


@pytest.mark.parametrize("name", chargesol_notifications.__all__)
def test_every_name_of_the_package_is_in_the_reference(name):
    assert f"chargesol_notifications.{name}" in documented(*AUTODOC)


@pytest.mark.parametrize("name", public_functions(calls))
def test_every_function_of_calls_is_in_the_reference(name):
    targets = documented(*AUTODOC)
    assert {f"chargesol_notifications.{name}", f"chargesol_notifications.calls.{name}"} & targets


def fixtures(path: Path) -> list[str]:
    return [
        node.name
        for node in module_tree(path).body
        if isinstance(node, ast.FunctionDef)
        and any("fixture" in ast.unparse(decorator) for decorator in node.decorator_list)
    ]


TESTING = PACKAGE / "testing"
TESTING_NAMES = sorted(
    [f"testing.outbox.{name}" for name in dunder_all(TESTING / "outbox.py")]
    + [f"testing.pytest_plugin.{name}" for name in fixtures(TESTING / "pytest_plugin.py")]
    + [
        f"testing.twilio.pytest_plugin.{name}"
        for name in fixtures(TESTING / "twilio" / "pytest_plugin.py")
    ]
    + [f"testing.twilio.{name}" for name in dunder_all(TESTING / "twilio" / "__init__.py")]
    + [f"testing.fcm.{name}" for name in dunder_all(TESTING / "fcm" / "__init__.py")]
)


def test_the_testing_names_are_found():
    assert {
        "testing.outbox.empty_outbox",
        "testing.pytest_plugin.notification_outbox",
        "testing.twilio.pytest_plugin.twilio_standin",
        "testing.twilio.TwilioStandin",
        "testing.fcm.FcmStandin",
    } <= set(TESTING_NAMES)


@pytest.mark.parametrize("name", TESTING_NAMES)
def test_every_testing_name_is_in_the_reference(name):
    assert f"chargesol_notifications.{name}" in documented(*AUTODOC)


# -- management commands ----------------------------------------------------------------

COMMANDS = sorted(
    path.stem
    for path in (PACKAGE / "management" / "commands").glob("*.py")
    if not path.stem.startswith("_")
)


def command_options(command: str) -> list[str]:
    tree = module_tree(PACKAGE / "management" / "commands" / f"{command}.py")
    return [
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "add_argument"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    ]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_and_option_is_in_the_reference(command):
    assert COMMANDS, "no management commands found"
    text = REFERENCE.read_text()
    start = text.index(f".. program:: {command}\n")
    following = text.find(".. program::", start + 1)
    section = text[start : following if following != -1 else text.index("\nData retention\n")]
    options = command_options(command)
    assert options
    missing = [o for o in options if not re.search(rf"\.\. option:: {re.escape(o)}\b", section)]
    assert not missing, f"{command}: options {missing} are not in the reference"


# -- webhook URLs -------------------------------------------------------------------------

URLS = {
    pattern.name: str(pattern.pattern)
    for pattern in urls_module.urlpatterns
    if isinstance(pattern, URLPattern) and pattern.name
}


@pytest.mark.parametrize("name", pending(sorted(URLS)))
def test_every_url_name_is_in_the_reference_with_its_path(name):
    text = REFERENCE.read_text()
    table = text[text.index("\nWebhook URLs\n") : text.index("\nManagement commands\n")]
    rows = table.split("   * - ")
    assert any(f"``{name}``" in row and f"``{URLS[name]}``" in row for row in rows), (
        f"{name} ({URLS[name]}) is not in the reference's table of webhook URLs"
    )
