"""The advertiser's week, as people read it: ``marts.fct_instance_week`` as a text table per instance.

``make demo`` prints it once Dagster has built the marts of the demo's weeks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine

# Columns of the printed table: (heading, fct_instance_week column, format). Ratios that read as
# percentages (ACOS, CTR, CVR, NTB share) are printed as percentages; the mart keeps them as ratios.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("spend", "spend", "money"),
    ("sales", "sales", "money"),
    ("ROAS", "roas", "ratio"),
    ("ACOS", "acos", "percent"),
    ("CTR", "ctr", "percent"),
    ("CPC", "cpc", "money"),
    ("CVR", "cvr", "percent"),
    ("NTB share", "ntb_purchase_share", "percent"),
)


@dataclass(frozen=True)
class InstanceWeek:
    instance_id: str
    week_start: date
    currency: str
    values: dict[str, Decimal | None]
    has_rows: bool
    provisional: bool


def instance_weeks(engine: Engine, instance_ids: Iterable[str], weeks: Iterable[date]) -> list[InstanceWeek]:
    """The rows of ``marts.fct_instance_week`` for these instances and weeks, by instance and week."""
    from sqlalchemy import text

    columns = ", ".join(column for _, column, _ in COLUMNS)
    with engine.connect() as conn:
        rows = conn.execute(text(
            f"SELECT instance_id, week_start, currency, has_rows, provisional, {columns} "
            "FROM marts.fct_instance_week WHERE instance_id = ANY(:instances) AND week_start = ANY(:weeks) "
            "ORDER BY instance_id, week_start"
        ), {"instances": list(instance_ids), "weeks": list(weeks)}).mappings().all()
    return [InstanceWeek(row["instance_id"], row["week_start"], row["currency"],
                         {column: row[column] for _, column, _ in COLUMNS}, row["has_rows"], row["provisional"])
            for row in rows]


def _cell(value: Decimal | None, kind: str) -> str:
    if value is None:
        return "-"  # a zero denominator: the metric is undefined, not 0
    if kind == "money":
        return f"{value:,.2f}"
    if kind == "percent":
        return f"{100 * value:.1f}%"
    return f"{value:.2f}"


def format_weekly_tables(rows: Sequence[InstanceWeek]) -> str:
    """One table per instance: a line per week with spend, sales, ROAS, ACOS, CTR, CPC, CVR, NTB share.
    ``*`` marks a provisional week (AMC may still attribute conversions to it); ``(no rows)`` a loaded
    week with no result rows; ``-`` a metric whose denominator is zero."""
    lines: list[str] = []
    headings = ["week", *(heading for heading, _, _ in COLUMNS)]
    for instance_id in dict.fromkeys(row.instance_id for row in rows):
        mine = [row for row in rows if row.instance_id == instance_id]
        table = [headings]
        for row in mine:
            week = f"{row.week_start.isoformat()}{'*' if row.provisional else ' '}"
            cells = [_cell(row.values[column], kind) for _, column, kind in COLUMNS]
            table.append([week, *cells] if row.has_rows else [week, "(no rows)", *[""] * (len(cells) - 1)])
        widths = [max(len(line[i]) for line in table) for i in range(len(headings))]
        lines.append(f"instance {instance_id} ({mine[0].currency}):")
        for line in table:
            lines.append("  " + "  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i])
                                          for i, cell in enumerate(line)).rstrip())
    if any(row.provisional for row in rows):
        lines.append("  * provisional: inside AMC's attribution settle period; re-collected once settled")
    return "\n".join(lines)
