"""The OpenAI stand-in's JSON-schema side, without a server: strict-mode rules, validation, and answers
built only from the prompt's facts."""

from __future__ import annotations

import json

from amc_pipelines.sandbox.openai.schema import Facts, build, strict_problem, validate

SCHEMA = {
    "type": "object", "additionalProperties": False,
    "required": ["headline", "kind", "week", "confidence", "campaign_id", "notes", "flag"],
    "properties": {
        "headline": {"type": "string", "maxLength": 60},
        "kind": {"type": "string", "enum": ["trend", "anomaly"]},
        "week": {"type": "string", "format": "date"},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "campaign_id": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "notes": {"type": "array", "items": {"$ref": "#/$defs/Note"}, "maxItems": 1},
        "flag": {"type": ["boolean", "null"]},
    },
    "$defs": {"Note": {"type": "object", "additionalProperties": False, "required": ["text"],
                       "properties": {"text": {"type": "string"}}}},
}


def test_strict_mode_rules_use_openais_wording() -> None:
    assert strict_problem(SCHEMA) is None
    loose = {"type": "object", "properties": {"a": {"type": "object", "properties": {}}}, "required": ["a"],
             "additionalProperties": False}
    assert strict_problem(loose) == ("In context=('properties', 'a'), 'additionalProperties' is required to be "
                                     "supplied and to be false.")
    partial = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}, "required": ["a"],
               "additionalProperties": False}
    assert "Missing 'b'" in strict_problem(partial)


def test_validation_names_each_path() -> None:
    value = {"headline": "x", "kind": "other", "week": "2026-03-02", "confidence": 2, "campaign_id": None,
             "notes": [{"text": 1}], "flag": None, "extra": 1}
    problems = validate(value, SCHEMA)
    assert any(p.startswith("$.kind:") for p in problems) and any(p.startswith("$.confidence:") for p in problems)
    assert any(p.startswith("$.notes[0].text:") for p in problems) and "$: unexpected property 'extra'" in problems


def test_built_answers_validate_and_hold_only_the_prompts_facts() -> None:
    prompt = json.dumps({"kind": "anomaly", "week_start": "2026-03-02", "confidence": 0.83, "clicks": 1234,
                         "campaign": "Spring Sale"})
    facts = Facts.of([prompt], prompt)
    value = build(SCHEMA, facts)

    assert validate(value, SCHEMA) == []
    assert value["kind"] == "anomaly" and value["week"] == "2026-03-02" and value["confidence"] == 0.83
    assert value["campaign_id"] is None and value["flag"] is None  # no fact under those keys: null, not invented
    assert len(value["headline"]) <= 60 and value["headline"].startswith("kind: anomaly; week_start: 2026-03-02")
    assert value["notes"][0]["text"].endswith("clicks: 1234; campaign: Spring Sale")


def test_without_json_the_first_sentence_of_the_question_is_used() -> None:
    facts = Facts.of(["Summarise week 12. Be brief."], "Summarise week 12. Be brief.")
    assert build({"type": "string"}, facts) == "Summarise week 12."
    assert build({"type": "integer"}, facts) == 0 and build({"type": "integer", "minimum": 3}, facts) == 3
