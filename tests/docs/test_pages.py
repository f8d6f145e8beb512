"""The pages whose examples run as tests show them only through ``literalinclude``.

So every code example on them is a file under ``tests/docs/`` (or the test suite's own
``conftest.py``) that the suite runs, and no inline copy can drift from it. Commands
(``console``) and program output (``text``) may stay inline.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = ["quickstart.rst", "testing.rst", "standin_server.rst"]
INLINE_ALLOWED = {"console", "text"}

DIRECTIVE = re.compile(r"^\.\. (?P<name>[\w-]+):: ?(?P<argument>.*)$")
OPTION = re.compile(r"^ +:(?P<name>[\w-]+):(?: (?P<value>.*))?$")


def directives(page: str) -> list[tuple[str, str, dict[str, str]]]:
    """(name, argument, options) of every directive on the page."""
    found = []
    lines = (DOCS / page).read_text().splitlines()
    for number, line in enumerate(lines):
        if match := DIRECTIVE.match(line):
            options = {}
            for following in lines[number + 1 :]:
                option = OPTION.match(following)
                if not option:
                    break
                options[option["name"]] = option["value"] or ""
            found.append((match["name"], match["argument"].strip(), options))
    return found


def defines(source: str, dotted: str) -> bool:
    scope = ast.parse(source).body
    for name in dotted.split("."):
        node = next(
            (n for n in scope if isinstance(n, ast.FunctionDef | ast.ClassDef) and n.name == name),
            None,
        )
        if node is None:
            return False
        scope = node.body
    return True


@pytest.mark.parametrize("page", PAGES)
def test_code_is_included_from_files_that_run(page):
    inline = [
        argument
        for name, argument, _ in directives(page)
        if name in ("code-block", "code", "sourcecode") and argument not in INLINE_ALLOWED
    ]
    assert inline == [], f"{page} has inline code blocks; include them from tests/docs/"
    text = (DOCS / page).read_text()
    literal_blocks = re.findall(r"^(?!\.\. ).*\S::\n\n", text, re.M)
    assert literal_blocks == [], f"{page} has literal (::) blocks: {literal_blocks}"


@pytest.mark.parametrize("page", PAGES)
def test_every_include_finds_what_it_shows(page):
    includes = [(arg, opts) for name, arg, opts in directives(page) if name == "literalinclude"]
    assert includes
    for argument, options in includes:
        path = (DOCS / argument).resolve()
        assert path.is_file(), argument
        assert "tests" in path.relative_to(DOCS.parent).parts, argument
        source = path.read_text()
        if "pyobject" in options:
            assert defines(source, options["pyobject"]), (argument, options["pyobject"])
        for marker in ("start-after", "start-at", "end-before", "end-at"):
            if marker in options:
                assert options[marker] in source, (argument, marker, options[marker])
