"""The overview at the top of the notification list: 14 days per channel, as inline SVG.

One aggregate query (its result cached for a minute) counts the notifications created
in each of the last ``DAYS`` days by channel and current status (sent, delivered,
failed; queued ones are still in flight). Each channel gets a small stacked bar chart
drawn here as SVG: no JavaScript, no chart library, nothing fetched from elsewhere.
Every number is also in the chart's text (a title per bar and a legend with the
totals), so it reads without colour and in a screen reader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from ..choices import Channel, NotificationStatus
from ..models import Notification

DAYS = 14

#: How long the drawn overview is reused: a minute old is fresh enough for a trend.
CACHE_SECONDS = 60
CACHE_KEY = "chargesol_notifications:admin-overview"

#: Drawn bottom to top; colours pass WCAG contrast against the admin's white.
STATUSES = (
    (NotificationStatus.DELIVERED, "#2e7d32"),
    (NotificationStatus.SENT, "#1565c0"),
    (NotificationStatus.FAILED, "#c62828"),
)

BAR_WIDTH = 14
BAR_GAP = 4
CHART_HEIGHT = 60


@dataclass
class ChannelOverview:
    """One channel's counts: per day and status, and totals per status."""

    channel: str
    label: str
    days: list[date]
    counts: dict[tuple[date, str], int] = field(default_factory=dict)

    def total(self, status: str) -> int:
        return sum(n for (_day, s), n in self.counts.items() if s == status)

    def day_total(self, day: date) -> int:
        return sum(self.counts.get((day, status), 0) for status, _colour in STATUSES)


def overview(now: datetime | None = None) -> list[ChannelOverview]:
    """The channels with notifications in the last ``DAYS`` days, in one query."""
    today = timezone.localdate(now or timezone.now())
    days = [today - timedelta(days=offset) for offset in range(DAYS - 1, -1, -1)]
    start = timezone.make_aware(datetime.combine(days[0], datetime.min.time()))
    rows = (
        Notification.objects.filter(
            created_at__gte=start,
            status__in=[status for status, _colour in STATUSES],
        )
        .annotate(day=TruncDate("created_at"))
        .values_list("channel", "day", "status")
        .annotate(count=Count("pk"))
        .order_by()
    )
    by_channel: dict[str, ChannelOverview] = {}
    labels = dict(Channel.choices)
    for channel, day, status, count in rows:
        entry = by_channel.setdefault(
            channel, ChannelOverview(channel, str(labels.get(channel, channel)), days)
        )
        entry.counts[(day, status)] = count
    return [by_channel[channel] for channel in Channel.values if channel in by_channel]


def channel_svg(entry: ChannelOverview) -> SafeString:
    """A stacked bar per day: delivered, then sent, then failed on top."""
    tallest = max((entry.day_total(day) for day in entry.days), default=0) or 1
    width = len(entry.days) * (BAR_WIDTH + BAR_GAP)
    bars = []
    for index, day in enumerate(entry.days):
        x = index * (BAR_WIDTH + BAR_GAP)
        bottom = CHART_HEIGHT
        for status, colour in STATUSES:
            count = entry.counts.get((day, status), 0)
            if not count:
                continue
            height = max(1, round(count / tallest * CHART_HEIGHT))
            bottom -= height
            title = _("%(day)s: %(count)s %(status)s") % {
                "day": day.isoformat(),
                "count": count,
                "status": NotificationStatus(status).label.lower(),
            }
            bars.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}</title></rect>',
                    x,
                    bottom,
                    BAR_WIDTH,
                    height,
                    colour,
                    title,
                )
            )
    return format_html(
        '<svg class="csn-overview-chart" role="img" width="{}" height="{}" '
        'viewBox="0 0 {} {}" aria-label="{}">{}</svg>',
        width,
        CHART_HEIGHT,
        width,
        CHART_HEIGHT,
        _("%(channel)s, last %(days)s days") % {"channel": entry.label, "days": DAYS},
        format_html_join("", "{}", ((bar,) for bar in bars)),
    )


def legend(entry: ChannelOverview) -> SafeString:
    return format_html_join(
        " ",
        '<span class="csn-legend"><span class="csn-swatch" style="background:{}"></span>'
        "{} {}</span>",
        (
            (colour, entry.total(status), NotificationStatus(status).label.lower())
            for status, colour in STATUSES
        ),
    )


def overview_context(now: datetime | None = None) -> list[dict[str, object]]:
    """What the changelist template draws: per channel, its label, chart and legend.

    Cached for ``CACHE_SECONDS`` in the default cache: the aggregate reads two weeks of
    rows (tens of milliseconds at a million), and staff open the list all day.
    """
    cached = caches[DEFAULT_CACHE_ALIAS].get(CACHE_KEY)
    if cached is None:
        cached = [(entry.label, channel_svg(entry), legend(entry)) for entry in overview(now)]
        caches[DEFAULT_CACHE_ALIAS].set(CACHE_KEY, cached, CACHE_SECONDS)
    return [{"label": label, "chart": chart, "legend": key} for label, chart, key in cached]
