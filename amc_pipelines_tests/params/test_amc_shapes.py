"""AMC ``parameterValues`` / ``inputParameters`` and the parameter hash, checked against the sandbox's reader."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from decimal import Decimal

import pytest

from amc_pipelines.params import (
    ParameterError,
    ParameterSpec,
    amc_input_parameters,
    amc_parameter_values,
    coerce_parameters,
    parameters_hash,
    week_window,
)
from amc_pipelines.sandbox.sql.engine import compile_query
from amc_pipelines.sandbox.sql.models import InputParameter, QueryRejected, QueryRequest
from amc_pipelines.sandbox.sql.parameters import coerce_value

INJECTION = "x'); DROP TABLE t; --"
SPECS = [
    ParameterSpec(name="campaigns", type="array<string>", description="Campaign names to include"),
    ParameterSpec(name="min_impressions", type="integer", default=1),
    ParameterSpec(name="ratio", type="decimal", default="0.5"),
    ParameterSpec(name="include", type="boolean", default=True),
    ParameterSpec(name="from_day", type="date", default="2026-01-05"),
    ParameterSpec(name="after", type="timestamp", default="2026-01-05T06:00:00"),
    ParameterSpec(name="ids", type="array<long>", default=[1, 2]),
    ParameterSpec(name="label", type="string", default="weekly"),
]


def test_input_parameters_have_amc_shapes():
    assert amc_input_parameters(SPECS) == [
        {"name": "campaigns", "dataType": {"type": "ARRAY", "elementDataType": "STRING"},
         "description": "Campaign names to include"},
        {"name": "min_impressions", "dataType": "LONG", "defaultValue": 1},
        {"name": "ratio", "dataType": "DOUBLE", "defaultValue": 0.5},
        {"name": "include", "dataType": "BOOLEAN", "defaultValue": True},
        {"name": "from_day", "dataType": "DATE", "defaultValue": "2026-01-05"},
        {"name": "after", "dataType": "TIMESTAMP", "defaultValue": "2026-01-05T06:00:00"},
        {"name": "ids", "dataType": {"type": "ARRAY", "elementDataType": "LONG"}, "defaultValue": [1, 2]},
        {"name": "label", "dataType": "STRING", "defaultValue": "weekly"},
    ]


def test_parameter_values_are_json_with_amc_formats_and_defaults():
    values = amc_parameter_values(SPECS, {"campaigns": f'["{INJECTION}", "c2"]', "ratio": "0.25"})
    assert values == {
        "campaigns": [INJECTION, "c2"], "min_impressions": 1, "ratio": 0.25, "include": True,
        "from_day": "2026-01-05", "after": "2026-01-05T06:00:00", "ids": [1, 2], "label": "weekly",
    }
    assert json.loads(json.dumps(values)) == values


def test_parameter_values_accept_typed_values_and_refuse_unknown_names():
    typed = coerce_parameters(SPECS, {"campaigns": "a,b"})
    assert amc_parameter_values(SPECS, typed) == amc_parameter_values(SPECS, {"campaigns": "a,b"})
    with pytest.raises(ParameterError, match="unknown parameter 'campaign': did you mean 'campaigns'"):
        amc_parameter_values(SPECS, {"campaigns": "a", "campaign": "b"})


def test_input_parameters_round_trip_through_the_sandbox_reader():
    values = amc_parameter_values(SPECS, {"campaigns": "a,b"})
    for entry, declared in zip(amc_input_parameters(SPECS), SPECS, strict=True):
        parsed = InputParameter.from_api(entry)
        assert parsed.name == declared.name
        assert parsed.default_value == entry.get("defaultValue")
        is_array = declared.type.value.startswith("array")
        assert parsed.data_type == ("ARRAY" if is_array else entry["dataType"])
        assert parsed.element_data_type == (entry["dataType"]["elementDataType"] if is_array else None)
        # The sandbox's type check accepts both the value and the default as AMC would.
        coerce_value(parsed, values[declared.name])
        if parsed.default_value is not None:
            coerce_value(parsed, parsed.default_value)


def test_the_sandbox_binds_the_values_beside_the_sql_never_inside_it():
    window = week_window(date(2026, 1, 5), timezone="America/New_York", week_start="monday")
    sql = (
        "SELECT campaign, SUM(impressions) AS impressions FROM dsp_impressions "
        "WHERE ARRAY_CONTAINS(CUSTOM_PARAMETER('campaigns'), campaign) AND CUSTOM_PARAMETER('include') "
        "AND impressions >= CUSTOM_PARAMETER('min_impressions') AND impressions * CUSTOM_PARAMETER('ratio') >= 0 "
        "AND CAST(impression_dt_utc AS DATE) >= CUSTOM_PARAMETER('from_day') "
        "AND impression_dt_utc >= CUSTOM_PARAMETER('after') AND NOT ARRAY_CONTAINS(CUSTOM_PARAMETER('ids'), 0) "
        "AND CUSTOM_PARAMETER('label') = 'weekly' GROUP BY campaign"
    )
    request = QueryRequest(
        sql=sql,
        time_window_start=window.start,
        time_window_end=window.end,
        time_zone=window.timezone,
        parameter_values=amc_parameter_values(SPECS, {"campaigns": [INJECTION, "c2"]}),
        input_parameters=[InputParameter.from_api(entry) for entry in amc_input_parameters(SPECS)],
    )
    compiled = compile_query(request)
    bound = list(compiled.parameters.values.values())
    assert [INJECTION, "c2"] in bound
    assert Decimal("0.5") == next(v for v in bound if isinstance(v, float))
    assert date(2026, 1, 5) in bound and datetime(2026, 1, 5, 6, 0) in bound
    assert "DROP TABLE" not in compiled.tree.sql("duckdb")
    assert (compiled.bounds.start_utc, compiled.bounds.end_utc) == (datetime(2026, 1, 5, 5), datetime(2026, 1, 12, 5))


def test_the_sandbox_rejects_a_parameter_missing_from_the_declarations():
    # The counterpart of the catalog's "every CUSTOM_PARAMETER is declared" check.
    window = week_window(date(2026, 1, 5), timezone="UTC", week_start="monday")
    request = QueryRequest(
        sql="SELECT campaign, SUM(impressions) AS impressions FROM dsp_impressions "
            "WHERE campaign = CUSTOM_PARAMETER('other') GROUP BY campaign",
        time_window_start=window.start, time_window_end=window.end, time_zone=window.timezone,
        parameter_values=amc_parameter_values(SPECS, {"campaigns": "a"}),
        input_parameters=[InputParameter.from_api(entry) for entry in amc_input_parameters(SPECS)],
    )
    with pytest.raises(QueryRejected, match="'other' is used in the query but not declared"):
        compile_query(request)


def test_parameters_hash_is_stable_and_canonical():
    values = coerce_parameters(SPECS, {"campaigns": "a,b"})
    # The ledger keys executions by this hash, so its canonical form must not drift: sorted keys, no
    # spaces, dates/timestamps/decimals tagged with their type, decimals normalised.
    canonical = (
        '{"after":{"timestamp":"2026-01-05T06:00:00"},"campaigns":["a","b"],"from_day":{"date":"2026-01-05"},'
        '"ids":[1,2],"include":true,"label":"weekly","min_impressions":1,"ratio":{"decimal":"0.5"}}'
    )
    assert parameters_hash(values) == hashlib.sha256(canonical.encode()).hexdigest()
    assert parameters_hash(dict(reversed(list(values.items())))) == parameters_hash(values)
    assert parameters_hash({"r": Decimal("12.50")}) == parameters_hash({"r": Decimal("12.5")})
    assert parameters_hash({"r": Decimal("100")}) == parameters_hash({"r": Decimal("1E+2")})
    assert parameters_hash({}) == parameters_hash({})


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ({"a": ["x", "y"]}, {"a": ["y", "x"]}),
        ({"a": date(2026, 1, 5)}, {"a": "2026-01-05"}),
        ({"a": datetime(2026, 1, 5)}, {"a": date(2026, 1, 5)}),
        ({"a": 1}, {"a": "1"}),
        ({"a": 1}, {"a": True}),
        ({"a": 1}, {"b": 1}),
        ({"a": Decimal("1")}, {"a": 1}),
    ],
)
def test_parameters_hash_tells_different_values_apart(left, right):
    assert parameters_hash(left) != parameters_hash(right)


def test_parameters_hash_refuses_untyped_objects():
    with pytest.raises(TypeError, match="cannot hash a parameter value of type object"):
        parameters_hash({"a": object()})
