"""Shadow validation: is ``sqp_shadow.<t>`` (written by a shadow run) the same as the live ``sqp.<t>``?

Checks, as the table's ``validation:`` config asks (each a ``{name, passed, details}`` object; the
details always carry a one-line ``message``):

- ``tables``: both tables exist (else the validation fails at once, saying which is missing and
  what to do).
- ``columns``: same column names and types; the key, partition and validated columns in both.
  A configured column missing from either table stops the validation there.
- ``row_counts_by_week``: rows per ``partition_column`` value (the whole table without one).
- ``key_differences``: keys only in live / only in shadow, counted, with a few examples each way.
- ``checksums``: per column and week, the sum of a 64-bit hash of the value seeded with the hash
  of the row's key (Postgres's own hash functions by type), so the order of rows does not matter
  but a value moved to another row does. With ``key_differences`` on, the rows of keys only one
  side has are subtracted, so the checksums compare the rows both tables hold and a missing row
  does not hide a changed value in its week; with it off, a week whose key sets differ fails here.
  Floats are hashed at 12 significant digits (``FLOAT_DIGITS``) and numerics by value, so the
  last bits of a float or ``1.50`` vs ``1.5`` are not differences.
- ``metric_sums``: per week, ``|shadow - live| <= tolerance * |live|`` of each metric's sum (0 =
  exact). Sums are taken over ``numeric`` (floats at their 15 significant digits), which is exact
  and independent of row order, so equal tables have equal sums even for floats.

Everything is computed in Postgres in one statement (one pass over each table for counts,
checksums and sums by week, plus one join on the key columns alone for the key differences), in
a read-only REPEATABLE READ transaction: both tables are seen at one moment, millions of rows
never leave the server (only a row per week comes back), and nothing in ``sqp`` or ``sqp_shadow``
can be written. The result is one ``refresh.validations`` row, whose last N decide whether
``cutover`` is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, insert, text

from amc_pipelines.db.models import SHADOW_SCHEMA, refresh_validations
from amc_pipelines.refresh.models import TARGET_SCHEMA, TableConfig
from amc_pipelines.refresh.overrides import EffectiveTable

EXAMPLES = 5  # example keys and weeks shown per difference
FLOAT_DIGITS = 12  # significant digits of a float that count in checksums
NUMERIC_TYPES = frozenset({"smallint", "integer", "bigint", "numeric", "real", "double precision"})
_FLOAT_TYPES = frozenset({"real", "double precision"})


@dataclass
class ValidationResult:
    table: str
    passed: bool
    checks: list[dict]
    summary: str
    validation_id: int
    run_id: int | None

    @property
    def failed_checks(self) -> list[dict]:
        return [check for check in self.checks if not check["passed"]]


def validate_shadow(engine: Engine, table: EffectiveTable, *, run_id: int | None = None) -> ValidationResult:
    """Compare ``sqp_shadow.<t>`` with ``sqp.<t>`` and record the result in ``refresh.validations``."""
    config = table.config
    reading = engine.connect().execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    with reading as connection, connection.begin():
        # JIT-compiling the comparison's ~100 expressions cost more than it saved (5 of 24 s on 2
        # million rows a side).
        connection.execute(text("SET LOCAL jit = off"))
        checks = _checks(connection, config)
    passed = all(check["passed"] for check in checks)
    summary = _summary(checks, passed)
    with engine.begin() as connection:
        validation_id = connection.execute(
            insert(refresh_validations).values(table_name=config.name, run_id=run_id, passed=passed,
                                               checks=checks, summary=summary)
            .returning(refresh_validations.c.id)).scalar_one()
    return ValidationResult(config.name, passed, checks, summary, validation_id, run_id)


def _summary(checks: list[dict], passed: bool) -> str:
    if passed:
        # tables and columns say nothing when they pass; the data checks say what was compared.
        said = [check["details"]["message"] for check in checks[2:]] or ["validation: every data check is switched off"]
        return f"passed {len(checks)} checks: " + "; ".join(said)
    failed = [check for check in checks if not check["passed"]]
    return (f"failed {len(failed)} of {len(checks)} checks: "
            + "; ".join(f"{check['name']}: {check['details']['message']}" for check in failed))


def _check(name: str, passed: bool, message: str, **details: Any) -> dict:
    return {"name": name, "passed": passed, "details": {"message": message, **_plain(details)}}


def _plain(value: Any) -> Any:
    """JSON for the checks column: sums (Decimal) as int or float, dates as ISO strings."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


# ---- the checks ----------------------------------------------------------------------------------

def _checks(connection: Connection, config: TableConfig) -> list[dict]:
    live, shadow = f"{TARGET_SCHEMA}.{config.target_table}", f"{SHADOW_SCHEMA}.{config.target_table}"
    columns = _columns(connection, config.target_table)
    missing = [name for name, schema in ((live, TARGET_SCHEMA), (shadow, SHADOW_SCHEMA)) if schema not in columns]
    if missing:
        return [_check("tables", False, _missing_message(config, live, shadow, missing),
                       live=live, shadow=shadow, missing=missing)]
    checks = [_check("tables", True, f"{live} and {shadow} exist", live=live, shadow=shadow)]
    column_check, usable = _column_check(config, columns[TARGET_SCHEMA], columns[SHADOW_SCHEMA])
    checks.append(column_check)
    if not usable:
        return checks
    common = {name: kind for name, kind in columns[TARGET_SCHEMA].items() if columns[SHADOW_SCHEMA].get(name) == kind}
    checksummed = [name for name in (common if config.validation.checksum_columns == "all"
                                     else config.validation.checksum_columns)]
    weeks, examples = _compare(connection, config, checksummed, common)
    validation = config.validation
    if validation.row_counts_by_week:
        checks.append(_row_count_check(config, weeks))
    if validation.key_differences:
        checks.append(_key_check(weeks, examples))
    if checksummed:
        checks.append(_checksum_check(config, checksummed, weeks))
    if validation.metric_sums:
        checks.append(_metric_check(config, weeks))
    return checks


def _missing_message(config: TableConfig, live: str, shadow: str, missing: list[str]) -> str:
    name = config.name
    parts = []
    if shadow in missing:
        parts.append(f"{shadow} does not exist: the table has not been written in shadow mode yet; run it in "
                     f"shadow mode (amc refresh config set {name} --mode shadow, then amc refresh run {name})")
    if live in missing:
        parts.append(f"{live} does not exist: there is no live table to compare with; a table new to the refresh "
                     f"needs no shadow: set it live (amc refresh config set {name} --mode live) and its first run "
                     "copies every row")
    return "; ".join(parts)


def _columns(connection: Connection, table: str) -> dict[str, dict[str, str]]:
    """Column name -> type (as format_type shows it) of the live and shadow tables, by schema."""
    rows = connection.execute(text("""
        SELECT n.nspname AS schema, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE c.relname = :table AND n.nspname IN (:live, :shadow) AND c.relkind IN ('r', 'p')
        ORDER BY n.nspname, a.attnum"""), {"table": table, "live": TARGET_SCHEMA, "shadow": SHADOW_SCHEMA})
    columns: dict[str, dict[str, str]] = {}
    for row in rows:
        columns.setdefault(row.schema, {})[row.name] = row.type
    return columns


def _base_type(kind: str) -> str:
    return kind.split("(", 1)[0]  # numeric(12,4) -> numeric


def _column_check(config: TableConfig, live: dict[str, str], shadow: dict[str, str]) -> tuple[dict, bool]:
    """The check, and whether the other checks can run (every column they need is in both tables)."""
    only_live = [name for name in live if name not in shadow]
    only_shadow = [name for name in shadow if name not in live]
    retyped = {name: {"live": live[name], "shadow": shadow[name]} for name in live
               if name in shadow and live[name] != shadow[name]}
    validation = config.validation
    needed = {name: "key_columns" for name in config.key_columns}
    if config.partition_column:
        needed[config.partition_column] = "partition_column"
    if validation.checksum_columns != "all":
        needed.update({name: "validation.checksum_columns" for name in validation.checksum_columns})
    needed.update({metric.column: "validation.metric_sums" for metric in validation.metric_sums})
    absent = [f"{field} column {name} is not in {where}" for name, field in needed.items()
              for where, columns in ((f"{TARGET_SCHEMA}.{config.target_table}", live),
                                     (f"{SHADOW_SCHEMA}.{config.target_table}", shadow)) if name not in columns]
    not_numbers = [f"validation.metric_sums column {metric.column} is {live[metric.column]}, not a number"
                   for metric in validation.metric_sums
                   if metric.column in live and _base_type(live[metric.column]) not in NUMERIC_TYPES]
    problems = [*absent, *not_numbers]
    differences = []
    if only_live:
        differences.append(f"only in live: {', '.join(only_live)}")
    if only_shadow:
        differences.append(f"only in shadow: {', '.join(only_shadow)}")
    if retyped:
        differences.append("types differ: " + ", ".join(f"{n} {t['live']} (live) vs {t['shadow']} (shadow)"
                                                        for n, t in retyped.items()))
    passed = not problems and not differences
    message = ("same columns and types" if passed else
               "; ".join(problems + differences) + (" (fix the table config or the table)" if problems else
                                                    " (schema drift applied to one table only?)"))
    check = _check("columns", passed, message, only_in_live=only_live, only_in_shadow=only_shadow,
                   types_differ=retyped, problems=problems)
    return check, not problems


def _quote(connection: Connection, name: str) -> str:
    return connection.dialect.identifier_preparer.quote_identifier(name)


# Postgres's own hash functions by type (the ones its hash joins use): no text is made of the
# value, and equal values hash alike whatever their representation (numeric 1.50 and 1.5).
_TYPE_HASHES = {"smallint": "hashint2extended({v}, {seed})", "integer": "hashint4extended({v}, {seed})",
                "bigint": "hashint8extended({v}, {seed})", "numeric": "hash_numeric_extended({v}, {seed})",
                "text": "hashtextextended({v}, {seed})", "character varying": "hashtextextended({v}::text, {seed})",
                "boolean": "hashint4extended({v}::int, {seed})",
                "date": "timestamp_hash_extended({v}::timestamp, {seed})",
                "timestamp without time zone": "timestamp_hash_extended({v}, {seed})",
                "timestamp with time zone": "timestamp_hash_extended({v} AT TIME ZONE 'UTC', {seed})"}
_FLOAT_FORMAT = "9." + "9" * (FLOAT_DIGITS - 1) + "EEEE"  # d.ddddddddddde+xx


def _hashed(value: str, kind: str, seed: str) -> str:
    """SQL of a 64-bit hash of ``value`` (an SQL expression) seeded with ``seed``."""
    base = _base_type(kind)
    if base in _FLOAT_TYPES:
        # FLOAT_DIGITS significant digits in scientific notation (9.99...96 and 10.0...01 both become
        # 1.00000000000e+01); zero (also -0), NaN and the infinities as words.
        text_form = (f"CASE WHEN {value} = 0 THEN '0' WHEN {value} = 'NaN' OR abs({value}) = 'Infinity' "
                     f"THEN {value}::text ELSE to_char({value}, '{_FLOAT_FORMAT}') END")
        return f"hashtextextended({text_form}, {seed})"
    # Any other type by its text form.
    return _TYPE_HASHES.get(base, "hashtextextended({v}::text, {seed})").format(v=value, seed=seed)


def _compare(connection: Connection, config: TableConfig, checksummed: list[str],
             types: dict[str, str]) -> tuple[list[dict], dict[str, list]]:
    """Everything in ONE statement: per week, both sides' rows, key checksum, column checksums and
    metric sums (one pass over each table), with the comparisons and tolerances applied in SQL;
    with ``key_differences``, also a join on the key columns for the keys only one side has, whose
    rows' checksums are subtracted so the column checksums compare the rows both sides hold.
    Returns the weeks in order and up to EXAMPLES keys found only in live / only in shadow."""
    q = lambda name: _quote(connection, name)  # noqa: E731
    with_keys = config.validation.key_differences
    metrics = config.validation.metric_sums
    table = q(config.target_table)
    live, shadow = f"{q(TARGET_SCHEMA)}.{table}", f"{q(SHADOW_SCHEMA)}.{table}"
    key_list = ", ".join(q(name) for name in config.key_columns)
    week = f"t.{q(config.partition_column)}" if config.partition_column else "'all'::text"
    row_key = ", ".join(f"t.{q(name)}" for name in config.key_columns)
    # The key's hash seeds each value's hash: a value moved to another row changes the sum.
    inner = [f"{week} AS week", f"hash_record_extended(ROW({row_key}), 0) AS row_seed"]
    inner += [f"t.{q(name)} AS v{i}" for i, name in enumerate(checksummed)]
    inner += [f"t.{q(metric.column)}::numeric AS m{i}" for i, metric in enumerate(metrics)]
    aggregates = ["count(*) AS n", "sum(row_seed) AS keys"]
    aggregates += [f"sum({_hashed(f'v{i}', types[name], 'row_seed')}) AS h{i}" for i, name in enumerate(checksummed)]
    aggregates += [f"sum(m{i}) AS m{i}" for i in range(len(metrics))]

    def side(source: str, only: str | None = None) -> str:
        # OFFSET 0 keeps the subquery from being flattened, so row_seed is computed once per row.
        rows = f"{source} AS t" + (f" JOIN diff USING ({key_list}) WHERE diff.side = '{only}'" if only else "")
        return (f"SELECT week, {', '.join(aggregates)} FROM (SELECT {', '.join(inner)} FROM {rows} OFFSET 0) AS r "
                "GROUP BY week")

    ctes = []
    if with_keys:
        ctes.append(f"""diff AS MATERIALIZED (
            SELECT {key_list}, CASE WHEN l.present IS NULL THEN 'shadow' ELSE 'live' END AS side
            FROM (SELECT {key_list}, true AS present FROM {live}) AS l
            FULL JOIN (SELECT {key_list}, true AS present FROM {shadow}) AS s USING ({key_list})
            WHERE l.present IS NULL OR s.present IS NULL)""")
    ctes += [f"l AS ({side(live)})", f"s AS ({side(shadow)})"]
    joins = "l FULL JOIN s ON l.week = s.week"
    if with_keys:
        ctes += [f"lx AS ({side(live, 'live')})", f"sx AS ({side(shadow, 'shadow')})"]
        joins += " LEFT JOIN lx ON lx.week = l.week LEFT JOIN sx ON sx.week = s.week"
    extra = (lambda side, column: f"coalesce({side}x.{column}, 0)") if with_keys else (lambda side, column: "0")

    outputs = ["coalesce(l.week, s.week)::text AS week", "coalesce(l.n, 0) AS live_rows",
               "coalesce(s.n, 0) AS shadow_rows", f"{extra('l', 'n')} AS only_live", f"{extra('s', 'n')} AS only_shadow",
               "(l.n IS NOT DISTINCT FROM s.n AND l.keys IS NOT DISTINCT FROM s.keys) AS same_keys"]
    outputs += [f"(coalesce(l.h{i}, 0) - {extra('l', f'h{i}')} = coalesce(s.h{i}, 0) - {extra('s', f'h{i}')}) AS same_h{i}"
                for i in range(len(checksummed))]
    params: dict[str, Any] = {}
    for i, metric in enumerate(metrics):
        params[f"tolerance{i}"] = Decimal(str(metric.tolerance))
        outputs += [f"coalesce(l.m{i}, 0) AS live_m{i}", f"coalesce(s.m{i}, 0) AS shadow_m{i}",
                    f"abs(coalesce(s.m{i}, 0) - coalesce(l.m{i}, 0)) <= :tolerance{i} * abs(coalesce(l.m{i}, 0)) AS ok_m{i}"]
    if with_keys:
        as_json = "json_build_object(" + ", ".join(f"'{name}', {q(name)}" for name in config.key_columns) + ")"
        outputs += [f"(SELECT json_agg({as_json} ORDER BY {key_list}) FROM (SELECT {key_list} FROM diff "
                    f"WHERE side = '{which}' ORDER BY {key_list} LIMIT {EXAMPLES}) AS e) AS {which}_examples"
                    for which in ("live", "shadow")]
    statement = (f"WITH {', '.join(ctes)} SELECT {', '.join(outputs)} FROM {joins} "
                 "ORDER BY coalesce(l.week, s.week)")
    weeks = [dict(row._mapping) for row in connection.execute(text(statement), params)]
    examples = {which: (weeks[0][f"{which}_examples"] or []) if weeks and with_keys else [] for which in ("live", "shadow")}
    return weeks, examples


def _row_count_check(config: TableConfig, weeks: list[dict]) -> dict:
    differing = [{"week": w["week"], "live": w["live_rows"], "shadow": w["shadow_rows"]}
                 for w in weeks if w["live_rows"] != w["shadow_rows"]]
    live_rows, shadow_rows = sum(w["live_rows"] for w in weeks), sum(w["shadow_rows"] for w in weeks)
    scope = _weeks(len(weeks)) if config.partition_column else "the whole table (no partition_column)"
    if differing:
        message = (f"{len(differing)} of {_weeks(len(weeks))} differ (live {live_rows:,} rows, shadow "
                   f"{shadow_rows:,}), e.g. " + ", ".join(f"{d['week']}: {d['live']:,} vs {d['shadow']:,}"
                                                          for d in differing[:EXAMPLES]))
        if not config.partition_column:
            message = f"live has {live_rows:,} rows, shadow {shadow_rows:,}"
    else:
        message = f"{live_rows:,} rows in {scope}, equal"
    return _check("row_counts_by_week", not differing, message, live_rows=live_rows, shadow_rows=shadow_rows,
                  weeks_compared=len(weeks), weeks_differing=len(differing), examples=differing[:EXAMPLES])


def _key_check(weeks: list[dict], examples: dict[str, list]) -> dict:
    only_live, only_shadow = sum(w["only_live"] for w in weeks), sum(w["only_shadow"] for w in weeks)
    passed = only_live == 0 and only_shadow == 0
    message = ("same keys" if passed else
               f"{_count(only_live, 'key')} only in live, {only_shadow:,} only in shadow"
               + "".join(f"; {label} e.g. {_describe_key(found[0])}"
                         for label, found in (("only in live", examples["live"]),
                                              ("only in shadow", examples["shadow"])) if found))
    return _check("key_differences", passed, message, only_in_live=only_live, only_in_shadow=only_shadow,
                  examples_only_in_live=examples["live"], examples_only_in_shadow=examples["shadow"])


def _describe_key(key: dict) -> str:
    return "(" + ", ".join(f"{name}={value}" for name, value in key.items()) + ")"


def _checksum_check(config: TableConfig, checksummed: list[str], weeks: list[dict]) -> dict:
    # With key_differences the checksums are of the rows both sides hold, so every week compares;
    # without it a week whose key sets differ has all its checksums differ and fails as such.
    with_keys = config.validation.key_differences
    other_keys = [w["week"] for w in weeks if not w["same_keys"]]
    comparable = weeks if with_keys else [w for w in weeks if w["same_keys"]]
    differing: dict[str, dict] = {}
    for i, name in enumerate(checksummed):
        found = [w["week"] for w in comparable if not w[f"same_h{i}"]]
        if found:
            differing[name] = {"weeks_differing": len(found), "weeks": found[:EXAMPLES]}
    keys_fail_here = bool(other_keys) and not with_keys
    passed = not differing and not keys_fail_here

    def where(count: int, examples: list[str]) -> str:
        return f" in {_weeks(count)} ({', '.join(examples)})" if config.partition_column else ""

    if passed:
        message = f"{len(checksummed)} columns equal" + (f" in {_weeks(len(comparable))}" if config.partition_column else "")
        if other_keys:
            message += " (rows both tables hold)"
    else:
        parts = [f"{name} differs{where(d['weeks_differing'], d['weeks'])}" for name, d in differing.items()]
        if keys_fail_here:
            parts.append(f"the rows differ{where(len(other_keys), other_keys[:EXAMPLES])}")
        message = "; ".join(parts)
    return _check("checksums", passed, message, columns=checksummed, columns_differing=differing,
                  weeks_compared=len(comparable), weeks_with_different_keys=other_keys[:EXAMPLES],
                  weeks_with_different_keys_count=len(other_keys), float_digits=FLOAT_DIGITS)


def _metric_check(config: TableConfig, weeks: list[dict]) -> dict:
    metrics: dict[str, dict] = {}
    failed = []
    for i, metric in enumerate(config.validation.metric_sums):
        bad = [w for w in weeks if not w[f"ok_m{i}"]]
        live_total = sum((w[f"live_m{i}"] for w in weeks), Decimal(0))
        shadow_total = sum((w[f"shadow_m{i}"] for w in weeks), Decimal(0))
        examples = [{"week": w["week"], "live": w[f"live_m{i}"], "shadow": w[f"shadow_m{i}"],
                     "relative_difference": _relative(w[f"live_m{i}"], w[f"shadow_m{i}"])} for w in bad[:EXAMPLES]]
        metrics[metric.column] = {"tolerance": metric.tolerance, "live_sum": live_total, "shadow_sum": shadow_total,
                                  "weeks_differing": len(bad), "examples": examples}
        if bad:
            worst = max(bad, key=lambda w: _relative(w[f"live_m{i}"], w[f"shadow_m{i}"]) or float("inf"))
            allowed = "exact" if metric.tolerance == 0 else f"tolerance {metric.tolerance:g}"
            where = f" in {_weeks(len(bad))}, e.g. {worst['week']}" if config.partition_column else ""
            failed.append(f"{metric.column} differs beyond {allowed}{where}: "
                          f"live {_number(worst[f'live_m{i}'])} vs shadow {_number(worst[f'shadow_m{i}'])}")
    scope = f" in {_weeks(len(weeks))}" if config.partition_column else ""
    message = "; ".join(failed) if failed else f"{len(metrics)} metric sums within tolerance{scope}"
    return _check("metric_sums", not failed, message, metrics=metrics)


def _count(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _weeks(count: int) -> str:
    return _count(count, "week")


def _relative(live: Decimal, shadow: Decimal) -> float | None:
    """|shadow - live| / |live|; None when live is 0 (any difference is then infinitely relative)."""
    return None if live == 0 else float(abs(shadow - live) / abs(live))


def _number(value: Decimal) -> str:
    return f"{value:,}" if value == value.to_integral_value() else f"{value:,.6g}"
