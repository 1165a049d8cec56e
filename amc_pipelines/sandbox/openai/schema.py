"""JSON schemas as structured outputs and function tools use them: the strict-mode rules, validation of
an answer, and building a valid answer from the facts of a prompt.

The subset is what strict mode accepts: ``type`` (one or a list), ``properties`` / ``required`` /
``additionalProperties``, ``items``, ``enum``, ``const``, ``anyOf``, ``$ref`` to ``$defs`` /
``definitions`` / ``#``, ``minimum`` / ``maximum`` / ``exclusiveMinimum`` / ``exclusiveMaximum``,
``minItems`` / ``maxItems``, ``minLength`` / ``maxLength``, ``pattern`` and ``format`` (date, date-time).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_DATE_TIME = re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?")
MAX_ITEMS_BUILT = 3
MAX_SENTENCE_FACTS = 8


def resolve(schema: Any, root: dict[str, Any]) -> dict[str, Any]:
    """The schema a ``$ref`` points to (local references only), or the schema itself."""
    seen = 0
    while isinstance(schema, dict) and "$ref" in schema:
        ref = schema["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise ValueError(f"reference {ref!r} is not local ('#/$defs/Name')")
        target: Any = root
        for part in [p for p in ref[1:].split("/") if p]:
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, dict) or part not in target:
                raise ValueError(f"reference {ref!r} does not resolve")
            target = target[part]
        schema = target
        seen += 1
        if seen > 32:
            raise ValueError(f"reference {ref!r} loops")
    return schema if isinstance(schema, dict) else {}


def _types(schema: dict[str, Any]) -> list[str]:
    kind = schema.get("type")
    if kind is None:
        return []
    return list(kind) if isinstance(kind, list) else [kind]


def strict_problem(schema: Any, root: dict[str, Any] | None = None, context: tuple[str, ...] = ()) -> str | None:
    """Why strict mode refuses the schema (OpenAI's wording), or None: every object must list all its
    properties in ``required`` and set ``additionalProperties: false``; references must resolve."""
    if not isinstance(schema, dict):
        return f"In context={context}, schema must be a JSON Schema of 'type: \"object\"', got '{type(schema).__name__}'."
    root = schema if root is None else root
    if "$ref" in schema:
        try:
            resolve(schema, root)
        except ValueError as error:
            return f"In context={context}, {error}."
        return None
    if "object" in _types(schema) or "properties" in schema:
        if schema.get("additionalProperties", True) is not False:
            return f"In context={context}, 'additionalProperties' is required to be supplied and to be false."
        properties = schema.get("properties") or {}
        required = schema.get("required") or []
        missing = [name for name in properties if name not in required]
        if missing:
            return (f"In context={context}, 'required' is required to be supplied and to be an array including "
                    f"every key in properties. Missing '{missing[0]}'.")
        for name, sub in properties.items():
            problem = strict_problem(sub, root, (*context, "properties", name))
            if problem:
                return problem
    if isinstance(schema.get("items"), dict):
        problem = strict_problem(schema["items"], root, (*context, "items"))
        if problem:
            return problem
    for index, sub in enumerate(schema.get("anyOf") or []):
        problem = strict_problem(sub, root, (*context, "anyOf", str(index)))
        if problem:
            return problem
    for keyword in ("$defs", "definitions"):
        for name, sub in (schema.get(keyword) or {}).items():
            problem = strict_problem(sub, root, (*context, keyword, name))
            if problem:
                return problem
    return None


def _is_type(value: Any, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool) or (isinstance(value, float) and value.is_integer())
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "null":
        return value is None
    return True


def validate(value: Any, schema: Any, root: dict[str, Any] | None = None, path: str = "$") -> list[str]:
    """Every way ``value`` breaks ``schema`` (empty: it validates), each naming its JSON path."""
    root = schema if root is None else root
    try:
        schema = resolve(schema, root)
    except ValueError as error:
        return [f"{path}: {error}"]
    errors: list[str] = []
    if "anyOf" in schema:
        if not any(not validate(value, sub, root, path) for sub in schema["anyOf"]):
            errors.append(f"{path}: matches none of anyOf")
        return errors
    kinds = _types(schema)
    if kinds and not any(_is_type(value, kind) for kind in kinds):
        return [f"{path}: {json.dumps(value)[:80]} is not of type {' or '.join(kinds)}"]
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: must be {json.dumps(schema['const'])}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {json.dumps(value)[:80]} is not one of {json.dumps(schema['enum'])[:200]}")
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        for name in schema.get("required") or []:
            if name not in value:
                errors.append(f"{path}: missing required property {name!r}")
        for name, item in value.items():
            if name in properties:
                errors += validate(item, properties[name], root, f"{path}.{name}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{path}: unexpected property {name!r}")
            elif isinstance(schema.get("additionalProperties"), dict):
                errors += validate(item, schema["additionalProperties"], root, f"{path}.{name}")
    elif isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append(f"{path}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{path}: more than {schema['maxItems']} items")
        if isinstance(schema.get("items"), dict):
            for index, item in enumerate(value):
                errors += validate(item, schema["items"], root, f"{path}[{index}]")
    elif isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append(f"{path}: shorter than {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{path}: longer than {schema['maxLength']} characters")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{path}: does not match pattern {schema['pattern']!r}")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        for keyword, broken in (("minimum", lambda v, b: v < b), ("maximum", lambda v, b: v > b),
                                ("exclusiveMinimum", lambda v, b: v <= b), ("exclusiveMaximum", lambda v, b: v >= b)):
            if keyword in schema and broken(value, schema[keyword]):
                errors.append(f"{path}: {value} breaks {keyword} {schema[keyword]}")
    return errors


# ---- building an answer from the facts of the prompt ---------------------------------------------------


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and value is not None


def _render(value: Any) -> str:
    """A fact as text, exactly as the prompt wrote it (numbers in their JSON form, never reformatted)."""
    return value if isinstance(value, str) else json.dumps(value)


def _json_values(text: str) -> list[Any]:
    """The JSON documents a prompt text holds: all of it, fenced blocks, or its outermost {...} / [...]."""
    stripped = text.strip()
    candidates = [stripped]
    candidates += re.findall(r"```(?:json)?\s*\n(.*?)```", text, flags=re.DOTALL)
    for opening, closing in (("{", "}"), ("[", "]")):
        start, end = text.find(opening), text.rfind(closing)
        if 0 <= start < end:
            candidates.append(text[start:end + 1])
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except (json.JSONDecodeError, ValueError):
            continue
        if isinstance(value, dict | list):
            return [value]
    return []


@dataclass
class Facts:
    """What a prompt states: records (the scalar fields of each JSON object in it, in order), the first
    value seen under each key, and the plain text (for sentences when there is no JSON)."""

    records: list[dict[str, Any]] = field(default_factory=list)
    by_key: dict[str, Any] = field(default_factory=dict)
    text: str = ""

    @classmethod
    def of(cls, texts: list[str], last_text: str) -> Facts:
        facts = cls(text=last_text)
        for text in texts:
            for value in _json_values(text):
                facts._walk(value)
        return facts

    def _walk(self, value: Any) -> None:
        if isinstance(value, dict):
            record = {key: item for key, item in value.items() if _scalar(item)}
            if record:
                self.records.append(record)
                for key, item in record.items():
                    self.by_key.setdefault(key, item)
            for item in value.values():
                if isinstance(item, dict | list):
                    self._walk(item)
        elif isinstance(value, list):
            for item in value:
                self._walk(item)

    def sentence(self, index: int) -> str:
        """One record as "key: value; ..." (values verbatim), or the prompt's first sentence."""
        if self.records:
            record = self.records[index % len(self.records)]
            return "; ".join(f"{key}: {_render(value)}" for key, value in list(record.items())[:MAX_SENTENCE_FACTS])
        first = re.split(r"(?<=[.!?])\s|\n", self.text.strip(), maxsplit=1)[0] if self.text.strip() else ""
        return _cut(first, 200) if first else "No facts were given."

    def numbers(self) -> list[int | float]:
        found = [value for record in self.records for value in record.values()
                 if isinstance(value, int | float) and not isinstance(value, bool)]
        return found


def _cut(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a space so that no number is split."""
    if len(text) <= limit:
        return text
    cut = text[:limit + 1].rsplit(" ", 1)[0] if " " in text[:limit + 1] else text[:limit]
    return cut[:limit].rstrip(" ;,")


def build(schema: Any, facts: Facts, root: dict[str, Any] | None = None, *, key: str | None = None, index: int = 0) -> Any:
    """A value valid for ``schema`` made only of what ``facts`` holds.

    Per property: the fact under the same key if its type fits; strings otherwise a record written out
    as "key: value; ..." (arrays take one record per item, at most three); numbers the first number
    of the prompt that fits the bounds (else the minimum, else 0); booleans false; nullable fields
    with no matching fact null; enums the fact when allowed, else their first value.
    """
    root = schema if root is None else root
    schema = resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    fact = facts.by_key.get(key) if key is not None else None
    if "anyOf" in schema:
        branches = [resolve(sub, root) for sub in schema["anyOf"]]
        nullable = any("null" in _types(branch) for branch in branches)
        if fact is None and nullable:
            return None
        for branch in branches:
            if "null" in _types(branch) and len(_types(branch)) == 1:
                continue
            candidate = build(branch, facts, root, key=key, index=index)
            if not validate(candidate, branch, root):
                return candidate
        return None if nullable else build(branches[0], facts, root, key=key, index=index)
    if "enum" in schema:
        return fact if fact in schema["enum"] else schema["enum"][0]
    kinds = _types(schema) or (["object"] if "properties" in schema else ["string"])
    if "null" in kinds and fact is None and len(kinds) > 1:
        return None
    kind = next(k for k in kinds if k != "null") if any(k != "null" for k in kinds) else "null"
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: build(sub, facts, root, key=name, index=index) for name, sub in properties.items()}
    if kind == "array":
        count = min(len(facts.records), MAX_ITEMS_BUILT) or 1
        count = max(count, schema.get("minItems", 0))
        count = min(count, schema.get("maxItems", count))
        items = schema.get("items") or {}
        return [build(items, facts, root, key=key, index=index + i) for i in range(count)]
    if kind == "string":
        return _string(schema, facts, fact, index)
    if kind in ("number", "integer"):
        return _number(schema, kind, facts, fact)
    if kind == "boolean":
        return fact if isinstance(fact, bool) else False
    return None


def _string(schema: dict[str, Any], facts: Facts, fact: Any, index: int) -> str:
    fmt = schema.get("format")
    if fmt in ("date", "date-time"):
        pattern = _DATE_TIME if fmt == "date-time" else _DATE
        if isinstance(fact, str) and pattern.fullmatch(fact):
            return fact
        for value in [*(_render(v) for r in facts.records for v in r.values()), facts.text]:
            found = pattern.search(value)
            if found:
                return found.group(0)
        return "1970-01-01T00:00:00Z" if fmt == "date-time" else "1970-01-01"
    text = _render(fact) if fact is not None and _scalar(fact) else facts.sentence(index)
    if "maxLength" in schema:
        text = _cut(text, schema["maxLength"])
    return text


def _number(schema: dict[str, Any], kind: str, facts: Facts, fact: Any) -> int | float:
    def fits(value: Any) -> bool:
        return _is_type(value, kind) and not validate(value, {**schema, "type": kind})

    candidates = [fact] if fact is not None else []
    candidates += facts.numbers()
    for value in candidates:
        if fits(value):
            return int(value) if kind == "integer" else value
    for bound in ("minimum", "exclusiveMinimum"):
        if bound in schema:
            value = schema[bound] if bound == "minimum" else schema[bound] + 1
            return int(value) if kind == "integer" else value
    return 0
