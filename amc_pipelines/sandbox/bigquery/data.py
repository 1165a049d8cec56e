"""Deterministic synthetic Brand Analytics data, as a connector lands it in BigQuery.

One dataset (``brand_analytics`` by default) holds every sandbox advertiser's rows, told apart by
``account_id`` (the AMC sandbox instance's entity id), ``advertiser`` and ``marketplace_id``:

- ``search_query_performance``: one row per (week, ASIN, search query), the Search Query Performance
  report (``../shared/reference/SQP.md``) flattened to snake_case columns, money as ``*_amount`` NUMERIC
  + ``*_currency_code``;
- ``asin_performance``: one row per (week, ASIN): the ASIN's whole search funnel (impressions, clicks,
  cart adds, purchases, units, sales, sessions, page views).

Weeks run Sunday to Saturday. A week **lands** on the Monday after it ends at 06:00 UTC and is then
**corrected** once a day for three days (Tuesday, Wednesday, Thursday 06:00 UTC): late-attributed
actions raise the counts of about a fifth of its rows (the stored counts are 94 %, 97 %, 99 % and
finally 100 % of the final ones), shares and rates are recomputed, and ``updated_at`` moves to the
correction's time. A row's ``updated_at`` is the landing time until a correction touches it. The
newest 104 landed weeks are present. Everything is a function of (size, seed, now): the same inputs
give the same bytes.

Generation is vectorised: numpy draws the final counts per advertiser, DuckDB derives the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import duckdb
import numpy as np
import pandas as pd

from amc_pipelines.sandbox.datagen.entities import MARKETS, UPPER_ALNUM, stable_token
from amc_pipelines.sandbox.datagen.generate import make_instance

SQP_TABLE = "search_query_performance"
ASIN_TABLE = "asin_performance"
WEEKS = 104
LANDING_DELAY = timedelta(days=2, hours=6)  # Saturday 00:00 + 2 d 6 h = Monday 06:00 UTC
CORRECTION_FACTORS = (0.94, 0.97, 0.99, 1.0)  # stored / final counts after 0, 1, 2, 3 corrections
CORRECTED_FRACTION = 0.2


@dataclass(frozen=True)
class DataSize:
    name: str
    advertisers: int  # the first N AMC sandbox advertisers
    asins: int  # per advertiser (the AMC sandbox's first ASINs)
    queries: int  # search queries per ASIN and week

    @property
    def sqp_rows(self) -> int:
        return self.advertisers * self.asins * self.queries * WEEKS


DATA_SIZES: dict[str, DataSize] = {
    "small": DataSize("small", advertisers=2, asins=3, queries=8),  # 4,992 SQP rows
    "demo": DataSize("demo", advertisers=3, asins=16, queries=60),  # 299,520
    "large": DataSize("large", advertisers=5, asins=30, queries=330),  # 5,148,000
}

# Search query vocabulary: product x modifier, per brand; every ASIN ranks for its own subset.
_PRODUCTS = (
    "rain jacket", "hiking boots", "tent", "sleeping bag", "backpack", "water bottle", "headlamp",
    "camping stove", "trekking poles", "blender", "coffee grinder", "knife set", "cutting board",
    "frying pan", "dutch oven", "kettle", "toaster", "mug", "lamp", "cooler", "hammock", "rain poncho",
)
_MODIFIERS = (
    "", "best", "cheap", "waterproof", "lightweight", "for women", "for men", "for kids", "2 pack",
    "large", "small", "stainless steel", "black", "gift", "sale", "professional", "travel", "heavy duty",
    "compact", "set", "replacement", "organic", "eco friendly", "under 50", "premium", "with case",
)

COUNT_FAMILIES = ("click", "cart_add", "purchase")
SQP_COUNTS = (
    "total_query_impression_count", "asin_impression_count",
    *(f"{scope}_{family}_count" for family in COUNT_FAMILIES for scope in ("total", "asin")),
    *(f"total_{speed}_shipping_{family}_count" for family in COUNT_FAMILIES for speed in ("same_day", "one_day", "two_day")),
)
ASIN_COUNTS = ("impressions", "clicks", "cart_adds", "purchases", "units_ordered", "sessions", "page_views")

# The BigQuery schema of each table, in column order (name, BigQuery type).
SQP_SCHEMA: tuple[tuple[str, str], ...] = (
    ("account_id", "STRING"), ("advertiser", "STRING"), ("marketplace_id", "STRING"),
    ("start_date", "DATE"), ("end_date", "DATE"), ("asin", "STRING"), ("search_query", "STRING"),
    ("search_query_score", "INTEGER"), ("search_query_volume", "INTEGER"),
    ("total_query_impression_count", "INTEGER"), ("asin_impression_count", "INTEGER"), ("asin_impression_share", "FLOAT"),
    *(
        column
        for family in COUNT_FAMILIES
        for column in (
            (f"total_{family}_count", "INTEGER"), (f"total_{family}_rate", "FLOAT"),
            (f"asin_{family}_count", "INTEGER"), (f"asin_{family}_share", "FLOAT"),
            (f"total_median_{family}_price_amount", "NUMERIC"), (f"total_median_{family}_price_currency_code", "STRING"),
            (f"asin_median_{family}_price_amount", "NUMERIC"), (f"asin_median_{family}_price_currency_code", "STRING"),
            (f"total_same_day_shipping_{family}_count", "INTEGER"), (f"total_one_day_shipping_{family}_count", "INTEGER"),
            (f"total_two_day_shipping_{family}_count", "INTEGER"),
        )
    ),
    ("updated_at", "TIMESTAMP"),
)
ASIN_SCHEMA: tuple[tuple[str, str], ...] = (
    ("account_id", "STRING"), ("advertiser", "STRING"), ("marketplace_id", "STRING"),
    ("start_date", "DATE"), ("end_date", "DATE"), ("asin", "STRING"),
    ("impressions", "INTEGER"), ("clicks", "INTEGER"), ("cart_adds", "INTEGER"), ("purchases", "INTEGER"),
    ("units_ordered", "INTEGER"), ("ordered_product_sales_amount", "NUMERIC"), ("currency_code", "STRING"),
    ("sessions", "INTEGER"), ("page_views", "INTEGER"), ("unit_session_percentage", "FLOAT"),
    ("updated_at", "TIMESTAMP"),
)


def _share(part: str, whole: str) -> str:
    # Brand Analytics reports shares and rates with four decimals; an empty total has share 0.
    return f"round(coalesce({part} / nullif({whole}, 0), 0), 4)"


# Columns computed from the counts: recomputed whenever counts change (generation and corrections).
DERIVED: dict[str, dict[str, str]] = {
    SQP_TABLE: {
        "asin_impression_share": _share("asin_impression_count", "total_query_impression_count"),
        **{
            column: expression
            for family in COUNT_FAMILIES
            for column, expression in (
                (f"total_{family}_rate", _share(f"total_{family}_count", "search_query_volume")),
                (f"asin_{family}_share", _share(f"asin_{family}_count", f"total_{family}_count")),
            )
        },
    },
    ASIN_TABLE: {"unit_session_percentage": _share("units_ordered", "sessions")},
}
COUNTS = {SQP_TABLE: SQP_COUNTS, ASIN_TABLE: ASIN_COUNTS}
MONEY_SCALED = {ASIN_TABLE: ("ordered_product_sales_amount",)}
SCHEMAS = {SQP_TABLE: SQP_SCHEMA, ASIN_TABLE: ASIN_SCHEMA}
DUCKDB_TYPES = {"STRING": "VARCHAR", "INTEGER": "BIGINT", "FLOAT": "DOUBLE", "NUMERIC": "DECIMAL(38,9)",
                "BOOLEAN": "BOOLEAN", "DATE": "DATE", "TIMESTAMP": "TIMESTAMPTZ"}


def data_size(name: str) -> DataSize:
    try:
        return DATA_SIZES[name]
    except KeyError:
        raise ValueError(f"unknown BigQuery stand-in size {name!r}; valid sizes: {', '.join(DATA_SIZES)}") from None


def landed_weeks(now: datetime) -> list[date]:
    """The Sundays starting the newest ``WEEKS`` weeks that have landed by ``now``, oldest first."""
    today = now.astimezone(UTC)
    last_saturday = today.date() - timedelta(days=(today.weekday() - 5) % 7)
    newest_start = last_saturday - timedelta(days=6)
    if landing_time(newest_start) > today:
        newest_start -= timedelta(days=7)
    return [newest_start - timedelta(weeks=back) for back in range(WEEKS - 1, -1, -1)]


def landing_time(week_start: date) -> datetime:
    """When a week's rows first appear: the Monday after its Saturday, 06:00 UTC."""
    return datetime.combine(week_start + timedelta(days=6), time(), UTC) + LANDING_DELAY


def corrections_applied(week_start: date, now: datetime) -> int:
    """How many of the week's three daily corrections have happened by ``now`` (0-3)."""
    elapsed = now - landing_time(week_start)
    return max(0, min(3, elapsed // timedelta(days=1)))


def generate(con: duckdb.DuckDBPyConnection, schema: str, *, size: str, seed: int, now: datetime) -> dict[str, int]:
    """Create both tables in ``schema`` as of ``now``; returns the row count of each."""
    spec = data_size(size)
    weeks = landed_weeks(now)
    week_frame = pd.DataFrame({
        "week_index": np.arange(len(weeks), dtype=np.int32),
        "start_date": pd.to_datetime(weeks).date,
        "landed_at": [landing_time(w) for w in weeks],
        "corrections": [corrections_applied(w, now) for w in weeks],
    })
    con.register("bq_weeks", week_frame)
    con.execute(f'CREATE OR REPLACE TEMP TABLE _weeks AS SELECT *, {list(CORRECTION_FACTORS)}[corrections + 1] AS factor FROM bq_weeks')
    con.unregister("bq_weeks")
    con.execute("CREATE OR REPLACE TEMP TABLE _queries (advertiser_index INTEGER, query_id INTEGER, search_query VARCHAR)")
    con.execute("CREATE OR REPLACE TEMP TABLE _asins (advertiser_index INTEGER, asin_index INTEGER, asin VARCHAR, "
                "account_id VARCHAR, advertiser VARCHAR, marketplace_id VARCHAR, currency_code VARCHAR, "
                "units_per_order DOUBLE, funnel_factor DOUBLE, sessions_per_click DOUBLE, views_per_session DOUBLE, "
                "price DOUBLE)")
    con.execute("CREATE OR REPLACE TEMP TABLE _base AS SELECT * FROM (" + _empty_base_sql() + ") WHERE false")
    for index in range(spec.advertisers):
        asins, queries, base = _advertiser_frames(spec, seed, index, len(weeks))
        for name, frame in (("_asins", asins), ("_queries", queries), ("_base", base)):
            con.register("bq_frame", frame)
            con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM bq_frame")
            con.unregister("bq_frame")
    con.execute(f'CREATE OR REPLACE TABLE "{schema}"."{SQP_TABLE}" AS {_sqp_select()}')
    con.execute(f'CREATE OR REPLACE TABLE "{schema}"."{ASIN_TABLE}" AS {_asin_select(schema)}')
    con.execute("DROP TABLE _base; DROP TABLE _queries; DROP TABLE _asins; DROP TABLE _weeks")
    return {
        table: con.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()[0]
        for table in (SQP_TABLE, ASIN_TABLE)
    }


def _empty_base_sql() -> str:
    columns = ["advertiser_index", "asin_index", "query_id", "week_index"]
    return "SELECT " + ", ".join(
        [f"0::INTEGER AS {c}" for c in columns]
        + ["0::BIGINT AS search_query_volume", "false AS corrected"]
        + [f"0::BIGINT AS {c}" for c in SQP_COUNTS]
        + [f"0::DOUBLE AS {scope}_median_{family}_price" for family in COUNT_FAMILIES for scope in ("total", "asin")]
    )


def _advertiser_frames(spec: DataSize, seed: int, index: int, n_weeks: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The ASIN and query lookups and the final counts (before corrections) of one advertiser."""
    market = MARKETS[index % len(MARKETS)]
    instance = make_instance(seed, index)
    rng = np.random.default_rng([seed, index, 0xB1])
    n_asins, n_queries = spec.asins, spec.queries
    # The AMC sandbox's ASIN ids (datagen.entities._asins), so both stand-ins talk about the same products.
    asin_ids = [f"B0{stable_token(seed, index, 'asin', i, length=8, alphabet=UPPER_ALNUM)}" for i in range(n_asins)]
    price = rng.lognormal(np.log(28.0), 0.55, n_asins) * market["price_scale"]
    decimals = 2 if market["price_scale"] < 10 else 0
    asins = pd.DataFrame({
        "advertiser_index": index, "asin_index": np.arange(n_asins, dtype=np.int32), "asin": asin_ids,
        "account_id": instance.account_id, "advertiser": market["advertiser"], "marketplace_id": market["marketplace_id"],
        "currency_code": market["currency"], "units_per_order": rng.uniform(1.0, 1.3, n_asins),
        "funnel_factor": rng.uniform(1.3, 1.8, n_asins), "sessions_per_click": rng.uniform(1.2, 1.6, n_asins),
        "views_per_session": rng.uniform(1.3, 2.0, n_asins), "price": np.round(price, decimals),
    })
    vocabulary = [f"{market['brand'].lower()} {product}" if m == 0 else f"{modifier} {product}".strip()
                  for product in _PRODUCTS for m, modifier in enumerate(_MODIFIERS)]
    queries = pd.DataFrame({"advertiser_index": index, "query_id": np.arange(len(vocabulary), dtype=np.int32),
                            "search_query": vocabulary})
    # Each ASIN ranks for its own queries; per (ASIN, query): popularity and funnel shape.
    query_ids = np.stack([rng.choice(len(vocabulary), n_queries, replace=False) for _ in range(n_asins)])
    pairs = n_asins * n_queries
    popularity = rng.lognormal(np.log(900.0), 1.1, pairs)
    impressions_per_search = rng.uniform(6, 14, pairs)
    impression_share = rng.beta(2, 18, pairs)
    click_rate = rng.uniform(0.3, 0.8, pairs)
    price_spread = rng.uniform(0.7, 1.4, pairs)

    # Rows in (ASIN, query, week) order: week varies fastest.
    n = pairs * n_weeks
    pair = np.repeat(np.arange(pairs), n_weeks)
    week = np.tile(np.arange(n_weeks, dtype=np.int32), pairs)
    seasonal = 1 + 0.25 * np.sin(2 * np.pi * (week + index * 7) / 52.0) + 0.35 * (week % 52 >= 46)
    volume = np.maximum(1, np.rint(popularity[pair] * seasonal * rng.lognormal(0, 0.15, n))).astype(np.int64)
    total_impressions = np.rint(volume * impressions_per_search[pair] * rng.lognormal(0, 0.05, n)).astype(np.int64)
    asin_impression_share = np.clip(impression_share[pair] * rng.lognormal(0, 0.2, n), 0, 1)
    counts = {
        "total_query_impression_count": total_impressions,
        "asin_impression_count": np.floor(total_impressions * asin_impression_share).astype(np.int64),
    }
    total = np.rint(volume * np.clip(click_rate[pair] * rng.lognormal(0, 0.1, n), 0, 0.95)).astype(np.int64)
    asin_share = np.clip(asin_impression_share * rng.uniform(0.7, 1.6, n), 0, 1)
    asin = np.floor(total * asin_share).astype(np.int64)
    for family, (low, high) in zip(COUNT_FAMILIES, ((1.0, 1.0), (0.08, 0.25), (0.3, 0.7)), strict=True):
        if family != "click":  # each step of the funnel keeps a fraction of the one before
            total = np.rint(total * rng.uniform(low, high, n)).astype(np.int64)
            asin = np.minimum(total, np.floor(asin * rng.uniform(low, high * 1.2, n))).astype(np.int64)
        counts[f"total_{family}_count"], counts[f"asin_{family}_count"] = total, asin
        for speed, (s_low, s_high) in (("same_day", (0.02, 0.12)), ("one_day", (0.15, 0.35)), ("two_day", (0.25, 0.45))):
            counts[f"total_{speed}_shipping_{family}_count"] = np.floor(total * rng.uniform(s_low, s_high, n)).astype(np.int64)
    asin_price = asins["price"].to_numpy()[pair // n_queries]
    base = pd.DataFrame({
        "advertiser_index": np.full(n, index, dtype=np.int32),
        "asin_index": (pair // n_queries).astype(np.int32),
        "query_id": query_ids.reshape(-1)[pair].astype(np.int32),
        "week_index": week,
        "search_query_volume": volume,
        "corrected": rng.random(n) < CORRECTED_FRACTION,
        **counts,
    })
    for family, discount in zip(COUNT_FAMILIES, (1.0, 0.97, 0.95), strict=True):
        base[f"total_median_{family}_price"] = np.round(asin_price * price_spread[pair] * discount * rng.lognormal(0, 0.03, n), decimals)
        base[f"asin_median_{family}_price"] = np.round(asin_price * rng.uniform(0.9, 1.0, n), decimals)
    return asins, queries, base


def _sqp_select() -> str:
    """The SQP table from the final counts: this week's correction factor, lookups, derived columns."""
    corrected = "(b.corrected AND w.corrections < 3)"
    scaled = {c: f"CASE WHEN {corrected} THEN floor(b.{c} * w.factor)::BIGINT ELSE b.{c} END" for c in SQP_COUNTS}
    columns = {
        "account_id": "a.account_id", "advertiser": "a.advertiser", "marketplace_id": "a.marketplace_id",
        "start_date": "w.start_date", "end_date": "w.start_date + 6", "asin": "a.asin", "search_query": "q.search_query",
        "search_query_score": "rank() OVER (PARTITION BY b.advertiser_index, b.week_index, b.asin_index "
                              "ORDER BY b.search_query_volume DESC, q.search_query)",
        "search_query_volume": "b.search_query_volume",
        **scaled,
        **{
            f"{scope}_median_{family}_price_{part}": (
                f"CASE WHEN {scaled[f'{scope}_{family}_count']} > 0 THEN "
                + (f"b.{scope}_median_{family}_price" if part == "amount" else "a.currency_code")
                + " END"
            )
            for family in COUNT_FAMILIES
            for scope in ("total", "asin")
            for part in ("amount", "currency_code")
        },
        "updated_at": "w.landed_at + to_days(CASE WHEN b.corrected THEN w.corrections ELSE 0 END)",
    }
    inner = ", ".join(f'CAST({expression} AS {_duckdb_type(SQP_SCHEMA, name)}) AS "{name}"'
                      for name, expression in columns.items())
    source = (f"SELECT {inner} FROM _base b JOIN _weeks w USING (week_index) "
              "JOIN _asins a USING (advertiser_index, asin_index) JOIN _queries q USING (advertiser_index, query_id)")
    return _with_derived(SQP_TABLE, source) + " ORDER BY account_id, start_date, asin, search_query_score"


def _asin_select(schema: str) -> str:
    """The ASIN table: the week's SQP counts of the ASIN scaled up to all of its search traffic."""
    purchases = "round(s.purchases * a.funnel_factor)"
    clicks = "round(s.clicks * a.funnel_factor)"
    columns = {
        "account_id": "s.account_id", "advertiser": "s.advertiser", "marketplace_id": "s.marketplace_id",
        "start_date": "s.start_date", "end_date": "s.end_date", "asin": "s.asin",
        "impressions": "round(s.impressions * a.funnel_factor)", "clicks": clicks,
        "cart_adds": "round(s.cart_adds * a.funnel_factor)", "purchases": purchases,
        "units_ordered": f"round({purchases} * a.units_per_order)",
        "ordered_product_sales_amount": f"round({purchases} * a.units_per_order) * a.price",
        "currency_code": "a.currency_code",
        "sessions": f"round({clicks} * a.sessions_per_click)",
        "page_views": f"round({clicks} * a.sessions_per_click * a.views_per_session)",
        "updated_at": "s.updated_at",
    }
    inner = ", ".join(f'CAST({expression} AS {_duckdb_type(ASIN_SCHEMA, name)}) AS "{name}"'
                      for name, expression in columns.items())
    weekly = ("SELECT account_id, advertiser, marketplace_id, start_date, end_date, asin, "
              "sum(asin_impression_count) AS impressions, sum(asin_click_count) AS clicks, "
              "sum(asin_cart_add_count) AS cart_adds, sum(asin_purchase_count) AS purchases, max(updated_at) AS updated_at "
              f'FROM "{schema}"."{SQP_TABLE}" GROUP BY ALL')
    source = f"SELECT {inner} FROM ({weekly}) s JOIN _asins a ON a.asin = s.asin AND a.account_id = s.account_id"
    return _with_derived(ASIN_TABLE, source) + " ORDER BY account_id, start_date, asin"


def _with_derived(table: str, source: str) -> str:
    """``source``'s columns plus the derived ones, in the table's schema order."""
    derived = DERIVED[table]
    select = ", ".join(
        f'CAST({derived[name]} AS {DUCKDB_TYPES[kind]}) AS "{name}"' if name in derived else f'"{name}"'
        for name, kind in SCHEMAS[table]
    )
    return f"SELECT {select} FROM ({source})"


def _duckdb_type(schema: tuple[tuple[str, str], ...], name: str) -> str:
    return DUCKDB_TYPES[dict(schema)[name]]


def correction_statements(schema: str, table: str, factor: float, where: str) -> list[str]:
    """A correction as UPDATEs: counts scaled by ``factor`` (floored, so a part never exceeds its
    whole; money rounded to cents), then the derived shares and rates recomputed from the new counts.

    ``where`` selects the rows; it is built by the caller from bound parameters only.
    """
    scaled = [f'"{c}" = floor("{c}" * {float(factor)!r})::BIGINT' for c in COUNTS[table]]
    scaled += [f'"{c}" = round("{c}" * {float(factor)!r}, 2)' for c in MONEY_SCALED.get(table, ())]
    derived = [f'"{name}" = {expression}' for name, expression in DERIVED[table].items()]
    target = f'"{schema}"."{table}"'
    return [f"UPDATE {target} SET {', '.join(scaled)} WHERE {where}",
            f"UPDATE {target} SET {', '.join(derived)} WHERE {where}"]
