"""Benchmark reading WhatsApp Content variables back out of a stored body.

When the task that carried a WhatsApp Content template's variables is lost, delivery
reads them back out of the rendered body (``placeholders.placeholder_values_from_text``).
The body is staff-edited text filled with customer data, so the time this takes must not
grow faster than the text: the worst case is a body that does *not* fit the template
(it was edited since), where a backtracking regular expression tries every way to split
it before giving up.

Measured in the same run, for N placeholders (default 10 to 50):

* ``linear``: the shipped function, on a fitting body and on one whose tail does not fit;
* ``backtracking regex``: the approach it replaced (one ``(.*?)`` per placeholder joined
  by the escaped literals, ``re.fullmatch``), on the same non-fitting bodies, up to
  ``--regex-max`` placeholders since beyond that one run takes minutes.

No database is needed. Run from the repository root (see bench/README.rst)::

    python bench/bench_whatsapp_variables.py
"""

from __future__ import annotations

import argparse
import re

import harness


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="4,6,8,10,20,50", help="placeholder counts")
    parser.add_argument("--regex-max", type=int, default=10, help="largest N for the regex")
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats (default 7)")
    parser.add_argument("--runs", type=int, default=20, help="calls per repeat (default 20)")
    return parser.parse_args()


def source_and_bodies(count: int) -> tuple[str, str, str]:
    """A template of ``count`` placeholders, a body that fits it and one that does not.

    The placeholders are separated by single spaces and the values contain spaces too,
    so a body can be split at many places: the worst case for backtracking, which tries
    every split before it finds that the final full stop is missing.
    """
    source = " ".join(f"{{{{ v{i} }}}}" for i in range(count)) + "."
    fitting = " ".join(f"v{i}" for i in range(count)) + "."
    not_fitting = " ".join(f"v {i}" for i in range(count)) + "!"
    return source, fitting, not_fitting


def regex_split(source: str, text: str) -> list[str] | None:
    from django.template.base import VariableNode

    from chargesol_notifications.rendering import compile_source

    pattern = "".join(
        "(.*?)" if isinstance(node, VariableNode) else re.escape(node.s)
        for node in compile_source(source).nodelist
    )
    match = re.fullmatch(pattern, text, flags=re.DOTALL)
    return list(match.groups()) if match else None


def main() -> None:
    args = parse_args()
    vendor = harness.setup(database=False)

    from chargesol_notifications.placeholders import placeholder_values_from_text

    sizes = [int(size) for size in args.sizes.split(",")]
    harness.describe_environment(vendor, args.repeats)
    rows = []
    for count in sizes:
        source, fitting, not_fitting = source_and_bodies(count)
        assert placeholder_values_from_text(source, fitting, label="bench") is not None
        assert placeholder_values_from_text(source, not_fitting, label="bench") is None

        def linear(text: str, source: str = source) -> None:
            for _ in range(args.runs):
                placeholder_values_from_text(source, text, label="bench")

        fits = harness.measure(
            f"{count}: linear, fits",
            lambda text=fitting: linear(text),
            repeats=args.repeats,
            operations=args.runs,
        )
        misses = harness.measure(
            f"{count}: linear, tail does not fit",
            lambda text=not_fitting: linear(text),
            repeats=args.repeats,
            operations=args.runs,
        )
        per_placeholder = misses.per_operation / count
        row = [
            str(count),
            harness.format_seconds(fits.per_operation),
            harness.format_seconds(misses.per_operation),
            harness.format_seconds(per_placeholder),
        ]
        if count <= args.regex_max:
            regex = harness.measure(
                f"{count}: backtracking regex, tail does not fit",
                lambda source=source, text=not_fitting: regex_split(source, text),
                repeats=args.repeats,
                operations=1,
            )
            row += [
                harness.format_seconds(regex.per_operation),
                f"{regex.per_operation / misses.per_operation:.0f}x",
            ]
        else:
            row += ["(not run)", "-"]
        rows.append(tuple(row))
    harness.print_table(
        "Content variables read back from a stored body",
        rows,
        (
            "placeholders",
            "linear, fits",
            "linear, no fit",
            "no fit per placeholder",
            "regex, no fit",
            "regex / linear",
        ),
    )


if __name__ == "__main__":
    main()
