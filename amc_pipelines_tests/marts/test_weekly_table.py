"""The demo's weekly table: percentages for the ratios read as such, '-' for an undefined metric, '*'
for a provisional week, '(no rows)' for a loaded week without result rows."""

from datetime import date
from decimal import Decimal

from amc_pipelines.marts.weekly_table import COLUMNS, InstanceWeek, format_weekly_tables


def _week(instance_id: str, day: int, *, provisional: bool = False, has_rows: bool = True, **values) -> InstanceWeek:
    base = {column: None for _, column, _ in COLUMNS}
    return InstanceWeek(instance_id, date(2026, 11, day), "EUR", base | values, has_rows, provisional)


def test_one_table_per_instance_with_formatted_metrics():
    rows = [
        _week("amc1", 2, spend=Decimal("1234.5"), sales=Decimal("4938"), roas=Decimal("4"), acos=Decimal("0.25"),
              ctr=Decimal("0.0123"), cpc=Decimal("0.61"), cvr=Decimal("0.1"), ntb_purchase_share=Decimal("0.5")),
        _week("amc1", 9, provisional=True, spend=Decimal("0"), sales=Decimal("12.5"), acos=Decimal("0")),
        _week("amc2", 2, has_rows=False),
    ]
    text = format_weekly_tables(rows)
    lines = text.splitlines()
    assert lines[0] == "instance amc1 (EUR):"
    assert lines[1].split() == ["week", "spend", "sales", "ROAS", "ACOS", "CTR", "CPC", "CVR", "NTB", "share"]
    assert lines[2].split() == ["2026-11-02", "1,234.50", "4,938.00", "4.00", "25.0%", "1.2%", "0.61", "10.0%", "50.0%"]
    # Zero spend: ROAS, CPC... are undefined ('-'), ACOS = 0 / 12.5 is 0.0%.
    assert lines[3].split() == ["2026-11-09*", "0.00", "12.50", "-", "0.0%", "-", "-", "-", "-"]
    assert lines[4] == "instance amc2 (EUR):"
    assert lines[6].split() == ["2026-11-02", "(no", "rows)"]
    assert lines[-1].strip().startswith("* provisional")
    # Columns line up: every value ends where its heading ends.
    assert len({len(line) for line in lines[1:4]}) == 1
