"""Parameter declarations, conversion of CLI strings and typed values, checks and their messages."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from amc_pipelines.params import ParameterError, ParameterSpec, ParameterType, coerce_parameters

ASIN = r"^[A-Z0-9]{10}$"


def spec(type_: str, **fields) -> ParameterSpec:
    return ParameterSpec(name=fields.pop("name", "p"), type=type_, **fields)


def coerce_one(parameter: ParameterSpec, raw):
    return coerce_parameters([parameter], {parameter.name: raw})[parameter.name]


def problem(parameter: ParameterSpec, raw) -> str:
    with pytest.raises(ParameterError) as caught:
        coerce_one(parameter, raw)
    return str(caught.value)


@pytest.mark.parametrize(
    ("type_", "raw", "expected"),
    [
        ("string", "B0ABCDEFGH", "B0ABCDEFGH"),
        ("string", " keeps spaces ", " keeps spaces "),
        ("integer", "30", 30),
        ("integer", "-5", -5),
        ("integer", "+7", 7),
        ("integer", " 12 ", 12),
        ("integer", str(2**63 - 1), 2**63 - 1),
        ("decimal", "12.5", Decimal("12.5")),
        ("decimal", "-0.25", Decimal("-0.25")),
        ("decimal", ".5", Decimal("0.5")),
        ("decimal", "1e2", Decimal("100")),
        ("decimal", "7", Decimal("7")),
        ("boolean", "true", True),
        ("boolean", "TRUE", True),
        ("boolean", "yes", True),
        ("boolean", "Yes", True),
        ("boolean", "1", True),
        ("boolean", "false", False),
        ("boolean", "no", False),
        ("boolean", "0", False),
        ("date", "2026-01-05", date(2026, 1, 5)),
        ("date", "2028-02-29", date(2028, 2, 29)),
        ("timestamp", "2026-01-05T13:45:30", datetime(2026, 1, 5, 13, 45, 30)),
        ("array<string>", '["a","b"]', ["a", "b"]),
        ("array<string>", "a,b", ["a", "b"]),
        ("array<string>", " a , b ", ["a", "b"]),
        ("array<string>", "single", ["single"]),
        ("array<string>", "", []),
        ("array<string>", "[]", []),
        ("array<string>", '["a,b", "c"]', ["a,b", "c"]),
        ("array<long>", "1,2,3", [1, 2, 3]),
        ("array<long>", "[1, 2]", [1, 2]),
        ("array<long>", '["10", 20]', [10, 20]),
    ],
)
def test_cli_strings_become_typed_values(type_, raw, expected):
    value = coerce_one(spec(type_), raw)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("type_", "raw", "expected"),
    [
        ("string", 12345, "12345"),  # YAML reads an unquoted id as a number
        ("integer", 30, 30),
        ("integer", 5.0, 5),
        ("decimal", 12, Decimal("12")),
        ("decimal", 0.1, Decimal("0.1")),
        ("decimal", Decimal("3.25"), Decimal("3.25")),
        ("boolean", True, True),
        ("boolean", 0, False),
        ("date", date(2026, 1, 5), date(2026, 1, 5)),
        ("timestamp", datetime(2026, 1, 5, 6, 0), datetime(2026, 1, 5, 6, 0)),
        ("array<string>", ["a", "b"], ["a", "b"]),
        ("array<string>", ("a",), ["a"]),
        ("array<string>", [123], ["123"]),
        ("array<long>", [1, 2], [1, 2]),
        ("array<long>", [], []),
    ],
)
def test_typed_values_from_yaml_or_json(type_, raw, expected):
    value = coerce_one(spec(type_), raw)
    assert value == expected
    assert type(value) is type(expected)


BAD_VALUES = [
    ("string", {}, 1.5, "parameter 'p': expected text, got 1.5 (float)"),
    ("string", {}, True, "parameter 'p': expected text, got True (bool)"),
    ("integer", {}, "abc", "parameter 'p': 'abc' is not a whole number (e.g. 30)"),
    ("integer", {}, "1.5", "'1.5' is not a whole number"),
    ("integer", {}, "1_000", "'1_000' is not a whole number"),
    ("integer", {}, 1.5, "1.5 is not a whole number"),
    ("integer", {}, True, "expected a whole number, got True"),
    ("integer", {}, str(2**63), f"{2**63} is outside the 64-bit integer range"),
    ("decimal", {}, "1,5", "'1,5' is not a decimal number (e.g. 12.5, with a dot)"),
    ("decimal", {}, "nan", "'nan' is not a decimal number"),
    ("decimal", {}, float("inf"), "'inf' is not a decimal number"),
    ("decimal", {}, "1e400", "'1e400' is not a decimal number"),
    ("decimal", {}, False, "False is not a decimal number"),
    ("boolean", {}, "maybe", "parameter 'p': 'maybe' is not a boolean: use true/false, yes/no or 1/0"),
    ("boolean", {}, "on", "'on' is not a boolean"),
    ("boolean", {}, 2, "2 is not a boolean"),
    ("date", {}, "2026/01/05", "parameter 'p': '2026/01/05' is not a date: use YYYY-MM-DD, e.g. 2026-01-05"),
    ("date", {}, "05-01-2026", "'05-01-2026' is not a date: use YYYY-MM-DD"),
    ("date", {}, "2026-02-30", "'2026-02-30' is not a real calendar date"),
    ("date", {}, "2027-02-29", "'2027-02-29' is not a real calendar date"),
    ("date", {}, 1767571200, "1767571200 is not a date"),
    ("date", {}, datetime(2026, 1, 5, 10), "2026-01-05T10:00:00 has a time of day: give a date alone, e.g. 2026-01-05"),
    ("timestamp", {}, "2026-01-05T10:00:00Z",
     "'2026-01-05T10:00:00Z' has a time zone suffix: remove it and give the local wall time, e.g. 2026-01-05T10:00:00"),
    ("timestamp", {}, "2026-01-05T10:00:00+02:00", "has a time zone suffix"),
    ("timestamp", {}, "2026-01-05", "'2026-01-05' has no time of day: use YYYY-MM-DDTHH:MM:SS, e.g. 2026-01-05T00:00:00"),
    ("timestamp", {}, date(2026, 1, 5), "2026-01-05 has no time of day"),
    ("timestamp", {}, "2026-01-05 10:00", "'2026-01-05 10:00' is not a timestamp: use YYYY-MM-DDTHH:MM:SS"),
    ("timestamp", {}, "2026-01-05T25:00:00", "'2026-01-05T25:00:00' is not a real date and time"),
    ("timestamp", {}, datetime(2026, 1, 5, tzinfo=UTC), "carries a time zone: give the local wall time"),
    ("timestamp", {}, datetime(2026, 1, 5, 0, 0, 0, 500), "has fractions of a second"),
    ("array<string>", {}, '["a",', "is not a valid JSON array"),
    ("array<string>", {}, "a,,b", "parameter 'p': item 2 of 'a,,b' is empty: check the commas"),
    ("array<string>", {}, "a,b,", "item 3 of 'a,b,' is empty"),
    ("array<string>", {}, 5, "expected a list, got 5"),
    ("array<string>", {}, [["a"]], "item 1 is ['a']: items must be single string values"),
    ("array<string>", {}, ["a", None], "item 2 is None"),
    ("array<string>", {}, [1.5], "item 1: expected text, got 1.5"),
    ("array<long>", {}, "1,x", "parameter 'p': item 2: 'x' is not a whole number"),
    ("array<long>", {}, "[1.5]", "item 1: 1.5 is not a whole number"),
    ("array<long>", {}, [True], "item 1: expected a whole number, got True"),
    ("string", {"pattern": ASIN}, "B0BAD", "'B0BAD' does not match ^[A-Z0-9]{10}$ (an ASIN is 10 letters or digits)"),
    ("string", {"pattern": r"^\d+$", "pattern_hint": "digits only"}, "12a", "'12a' does not match ^\\d+$ (digits only)"),
    ("string", {"pattern": r"^\d+$"}, "12a", "'12a' does not match ^\\d+$"),
    ("string", {"allowed_values": ["SP", "SB", "SD", "DSP"]}, "DSP2",
     "parameter 'p': 'DSP2' is not allowed (did you mean 'DSP'?): use one of 'SP', 'SB', 'SD', 'DSP'"),
    ("array<string>", {"allowed_values": ["SP", "SB"]}, "SP,XX", "item 'XX' is not allowed: use one of 'SP', 'SB'"),
    ("integer", {"minimum": 1, "maximum": 365}, "0", "parameter 'p': 0 is below the minimum 1"),
    ("integer", {"minimum": 1, "maximum": 365}, "400", "400 is above the maximum 365"),
    ("decimal", {"maximum": 1.5}, "1.51", "1.51 is above the maximum 1.5"),
    ("array<long>", {"minimum": 1}, "5,0", "item 0 is below the minimum 1"),
    ("array<string>", {"min_items": 1}, "", "parameter 'p': has 0 item(s); give at least 1"),
    ("array<string>", {"max_items": 2}, "a,b,c", "has 3 items; give at most 2"),
]


@pytest.mark.parametrize(("type_", "fields", "raw", "message"), BAD_VALUES)
def test_bad_values_are_refused_with_a_message_naming_the_fix(type_, fields, raw, message):
    assert message in problem(spec(type_, **fields), raw)


def test_bad_asin_message_is_exact():
    asins = spec("array<string>", name="asins", pattern=ASIN)
    assert problem(asins, "B0ABCDEFGH,B0BAD") == (
        "parameter 'asins': item 'B0BAD' does not match ^[A-Z0-9]{10}$ (an ASIN is 10 letters or digits)"
    )


INJECTIONS = [
    "x'); DROP TABLE t; --",
    "B0ABCDEFGH' OR '1'='1",
    "B0ABCDEFGH\n",
    "B0ABCDEFGH; DELETE FROM amc.instances",
    "' UNION SELECT user_id FROM dsp_impressions --",
    "b0abcdefgh",
    "B0ABCDEFG\u0130",  # a non-ASCII letter
]


@pytest.mark.parametrize("attempt", INJECTIONS)
def test_injection_attempts_in_list_parameters_are_refused_by_the_pattern(attempt):
    asins = spec("array<string>", name="asins", pattern=ASIN)
    for given in ([attempt], ["B0ABCDEFGH", attempt]):
        with pytest.raises(ParameterError) as caught:
            coerce_one(asins, given)
        assert "does not match ^[A-Z0-9]{10}$" in str(caught.value)
        assert caught.value.parameter == "asins"


def test_a_free_text_parameter_keeps_an_injection_attempt_as_a_plain_value():
    # Without a pattern the text is a value like any other; it travels in parameterValues, never in SQL.
    note = spec("string", name="note")
    assert coerce_one(note, "x'); DROP TABLE t; --") == "x'); DROP TABLE t; --"


def test_json_array_text_is_never_comma_split():
    assert coerce_one(spec("array<string>"), '["x\'); DROP TABLE t; --"]') == ["x'); DROP TABLE t; --"]


SPECS = [
    ParameterSpec(name="asins", type="array<string>", pattern=ASIN, required=True),
    ParameterSpec(name="lookback_days", type="integer", default=30, minimum=1, maximum=365),
    ParameterSpec(name="ad_product", type="string", default="SP", allowed_values=["SP", "SB", "SD", "DSP"]),
]


def test_defaults_are_applied_and_given_values_override_them():
    assert coerce_parameters(SPECS, {"asins": "B0ABCDEFGH"}) == {
        "asins": ["B0ABCDEFGH"], "lookback_days": 30, "ad_product": "SP",
    }
    assert coerce_parameters(SPECS, {"asins": "B0ABCDEFGH", "lookback_days": "7", "ad_product": "DSP"}) == {
        "asins": ["B0ABCDEFGH"], "lookback_days": 7, "ad_product": "DSP",
    }


def test_an_explicit_null_counts_as_not_given():
    assert coerce_parameters(SPECS, {"asins": "B0ABCDEFGH", "lookback_days": None})["lookback_days"] == 30


def test_unknown_names_get_a_suggestion_and_the_declared_list():
    with pytest.raises(ParameterError) as caught:
        coerce_parameters(SPECS, {"asins": "B0ABCDEFGH", "lookback_day": "7"})
    assert str(caught.value) == (
        "unknown parameter 'lookback_day': did you mean 'lookback_days'? "
        "this report declares asins, lookback_days, ad_product"
    )
    assert caught.value.parameter == "lookback_day"


def test_unknown_names_without_a_close_match_and_reports_without_parameters():
    with pytest.raises(ParameterError, match="unknown parameter 'zzz': this report declares asins"):
        coerce_parameters(SPECS, {"asins": "B0ABCDEFGH", "zzz": "1"})
    with pytest.raises(ParameterError, match="unknown parameter 'x': this report takes no parameters"):
        coerce_parameters([], {"x": "1"})


def test_missing_required_and_missing_without_default():
    with pytest.raises(ParameterError) as caught:
        coerce_parameters(SPECS, {})
    assert str(caught.value) == "parameter 'asins' needs a value (array<string>, e.g. asins=a,b)"
    optional = spec("integer", name="limit")
    with pytest.raises(ParameterError, match="parameter 'limit' needs a value .*the report gives no default"):
        coerce_parameters([optional], {})


def test_every_problem_is_reported_at_once():
    with pytest.raises(ParameterError) as caught:
        coerce_parameters(SPECS, {"asin": "x", "lookback_days": "0", "ad_product": "TV"})
    assert len(caught.value.problems) == 4
    assert caught.value.problems[0].startswith("unknown parameter 'asin': did you mean 'asins'?")
    assert "parameter 'asins' needs a value" in caught.value.problems[1]
    assert "0 is below the minimum 1" in caught.value.problems[2]
    assert "'TV' is not allowed" in caught.value.problems[3]


@pytest.mark.parametrize("type_", [t.value for t in ParameterType])
def test_coercion_is_idempotent(type_):
    raw = {
        "string": "text", "integer": "3", "decimal": "1.25", "boolean": "yes", "date": "2026-01-05",
        "timestamp": "2026-01-05T01:02:03", "array<string>": "a,b", "array<long>": "1,2",
    }[type_]
    once = coerce_one(spec(type_), raw)
    assert coerce_one(spec(type_), once) == once


@pytest.mark.parametrize("written", ["STRING", " String ", "Array<String>", "array< long >"])
def test_type_names_are_case_and_space_insensitive(written):
    assert ParameterSpec(name="p", type=written).type in ParameterType


def test_defaults_and_allowed_values_are_stored_typed():
    declared = ParameterSpec(name="d", type="date", default="2026-01-05", allowed_values=["2026-01-05", "2026-01-12"])
    assert declared.default == date(2026, 1, 5)
    assert declared.allowed_values == [date(2026, 1, 5), date(2026, 1, 12)]
    assert coerce_one(declared, "2026-01-12") == date(2026, 1, 12)
    assert "2026-01-06 is not allowed" in problem(declared, "2026-01-06")


BAD_DECLARATIONS = [
    ({"name": "my-param", "type": "string"}, "parameter name 'my-param' is not valid: use letters, digits and underscores"),
    ({"name": "1st", "type": "string"}, "parameter name '1st' is not valid"),
    ({"name": "p", "type": "float"}, "Input should be 'string', 'integer', 'decimal'"),
    ({"name": "p", "type": "integer", "pattern": "^a$"}, "parameter 'p': 'pattern' applies to string and array<string>"),
    ({"name": "p", "type": "string", "pattern": "[A-Z"}, "pattern '[A-Z' is not a valid regular expression"),
    ({"name": "p", "type": "string", "min_items": 1}, "'min_items' applies to array parameters, not string"),
    ({"name": "p", "type": "array<long>", "max_items": -1}, "'max_items' must be 0 or more"),
    ({"name": "p", "type": "array<long>", "min_items": 3, "max_items": 2}, "min_items 3 is greater than max_items 2"),
    ({"name": "p", "type": "string", "minimum": 1}, "'minimum' applies to integer, decimal and array<long>"),
    ({"name": "p", "type": "integer", "minimum": 5, "maximum": 1}, "minimum 5 is greater than maximum 1"),
    ({"name": "p", "type": "string", "allowed_values": []}, "'allowed_values' is empty"),
    ({"name": "p", "type": "integer", "allowed_values": [1, "two"]}, "allowed_values: 'two' is not a whole number"),
    ({"name": "p", "type": "string", "required": True, "default": "x"}, "a required parameter takes no default"),
    ({"name": "p", "type": "string", "pattern": ASIN, "default": "bad"}, "default: 'bad' does not match"),
    ({"name": "p", "type": "integer", "default": "x"}, "default: 'x' is not a whole number"),
    ({"name": "p", "type": "integer", "maximum": 10, "default": 11}, "default: 11 is above the maximum 10"),
    ({"name": "p", "type": "string", "requird": True}, "Extra inputs are not permitted"),
]


@pytest.mark.parametrize(("fields", "message"), BAD_DECLARATIONS)
def test_bad_declarations_are_refused(fields, message):
    with pytest.raises(ValidationError) as caught:
        ParameterSpec(**fields)
    assert message in str(caught.value)


def test_timestamp_values_keep_whole_seconds_across_a_day():
    stamp = coerce_one(spec("timestamp"), "2026-12-31T23:59:59")
    assert stamp + timedelta(seconds=1) == datetime(2027, 1, 1)
