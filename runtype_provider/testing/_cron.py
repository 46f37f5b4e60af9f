"""A minimal 5-field cron evaluator, enough to validate a schedule's ``cron`` and compute ``nextRunAt``.

Supports ``*``, numbers, ranges ``a-b``, steps ``*/n`` and ``a-b/n``, and comma lists; day of week
0-7 (0 and 7 are Sunday). Names (``MON``, ``JAN``) and ``@daily``-style macros are not supported.
When both day-of-month and day-of-week are restricted, a day matches if either does (Vixie cron).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))


@dataclass(frozen=True)
class Cron:
    """A parsed cron expression: the allowed values of each field."""

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Monday ... 6 = Sunday (Python convention)
    days_restricted: bool
    weekdays_restricted: bool

    def next_after(self, moment: datetime, tz: tzinfo) -> datetime | None:
        """Return the first firing time strictly after ``moment`` (aware), in ``tz``; None within 5 years."""
        local = moment.astimezone(tz).replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = local.replace(hour=0, minute=0)
        for _ in range(366 * 5):
            if self._day_matches(day):
                for hour in self.hours:
                    for minute in self.minutes:
                        candidate = day.replace(hour=hour, minute=minute)
                        if candidate >= local:
                            return candidate
            day = (day + timedelta(days=1)).replace(hour=0, minute=0)
        return None

    def _day_matches(self, day: datetime) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = day.weekday() in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return dom or dow
        return dom and dow


def _parse_field(text: str, name: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() else None
        if step_text and (step is None or step < 1):
            raise ValueError(f"invalid step in {name} field: {part!r}")
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            if not (first.isdigit() and last.isdigit()):
                raise ValueError(f"invalid range in {name} field: {part!r}")
            start, end = int(first), int(last)
        elif base.isdigit():
            start = int(base)
            end = high if step else start
        else:
            raise ValueError(f"invalid {name} field: {part!r}")
        if not low <= start <= end <= high:
            raise ValueError(f"{name} field out of range {low}-{high}: {part!r}")
        values.update(range(start, end + 1, step or 1))
    return values


def parse_cron(expression: str) -> Cron:
    """Parse a 5-field cron expression; raise ``ValueError`` with a readable message when invalid."""
    parts = expression.split()
    if len(parts) != 5:
        raise ValueError(f"cron must have 5 fields (minute hour day month weekday), got {len(parts)}")
    minute, hour, dom, month, dow = (
        _parse_field(text, name, low, high) for text, (name, low, high) in zip(parts, _FIELDS, strict=True)
    )
    return Cron(
        minutes=tuple(sorted(minute)),
        hours=tuple(sorted(hour)),
        days=frozenset(dom),
        months=frozenset(month),
        # cron: 0/7 = Sunday, 1 = Monday; Python: 0 = Monday, 6 = Sunday.
        weekdays=frozenset((value - 1) % 7 for value in dow),
        days_restricted=parts[2] != "*",
        weekdays_restricted=parts[4] != "*",
    )
