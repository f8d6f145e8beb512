"""Benchmark render_message(): a cached compiled template against a fresh compile.

Compiled NotificationTemplate sources are cached per process by their text
(``rendering.compile_source``), so a notify_many() to thousands of users compiles once.
"fresh compile" empties that cache before every render, which is what each render would
cost without it (and what the first render of an edited template costs).

No database is needed: the templates are unsaved instances.

Run from the repository root (see bench/README.rst)::

    python bench/bench_rendering.py
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import harness


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--renders", type=int, default=1000, help="renders per repeat (default 1000)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (default 5)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    vendor = harness.setup(database=False)

    from chargesol_notifications.models import NotificationTemplate
    from chargesol_notifications.rendering import compile_source, render_message

    templates = {
        "short SMS": NotificationTemplate(
            name="survey_confirmation_sms",
            channel="sms",
            body_template=(
                "Hi {{ recipient.first_name }}, your home survey is booked for "
                '{{ survey.scheduled_for|date:"l j F" }} at {{ survey.scheduled_for|time:"H:i" }}.'
            ),
        ),
        "email with subject": NotificationTemplate(
            name="installation_confirmation_email",
            channel="email",
            subject_template="Your {{ charger }} installation on {{ day }}",
            body_template=(
                "Dear {{ recipient.first_name }},\n\n"
                "Your {{ charger }} will be installed at {{ address }} on {{ day }}.\n"
                "{% if parking %}Please keep the drive clear for our van.\n{% endif %}"
                "What to expect:\n"
                "{% for step in steps %}{{ forloop.counter }}. {{ step }}\n{% endfor %}\n"
                "{% firstof installer 'Our installer' %} will call 30 minutes before "
                "arriving.\n\nThe ChargeSol team"
            ),
        ),
    }
    context = {
        # What notify() hands a template: plain data (recipient_context(), model_to_plain()).
        "recipient": {"first_name": "Siobhan"},
        "survey": {"scheduled_for": datetime(2026, 12, 2, 10, 0, tzinfo=UTC)},
        "charger": "Zappi 2",
        "address": "12 Otley Road, Leeds",
        "day": "Tuesday 2 December",
        "parking": True,
        "steps": ["Survey of the fuse board", "Mounting", "Testing", "App setup"],
        "installer": "Dave",
    }

    def cached(template: NotificationTemplate) -> None:
        for _ in range(args.renders):
            render_message(template, context)

    def fresh(template: NotificationTemplate) -> None:
        for _ in range(args.renders):
            compile_source.cache_clear()
            render_message(template, context)

    harness.describe_environment(vendor, args.repeats)
    rows = []
    for label, template in templates.items():
        timed_cached = harness.measure(
            f"{label}, cached",
            lambda template=template: cached(template),
            repeats=args.repeats,
            operations=args.renders,
        )
        timed_fresh = harness.measure(
            f"{label}, fresh compile",
            lambda template=template: fresh(template),
            repeats=args.repeats,
            operations=args.renders,
        )
        for timing in (timed_cached, timed_fresh):
            rows.append(
                (
                    timing.label,
                    harness.format_seconds(timing.per_operation),
                    f"{timing.per_operation / timed_cached.per_operation:.1f}x",
                )
            )
    harness.print_table(
        f"(c) render_message(), {args.renders} renders per repeat",
        rows,
        ("variant", "per render", "vs cached"),
    )


if __name__ == "__main__":
    main()
