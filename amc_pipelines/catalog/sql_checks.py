"""The checks that need a report's SQL parsed, run with the sandbox's own AMC SQL translator and rules.

- the SQL parses as AMC SQL and obeys AMC's rules (``compile_query`` rejects what AMC rejects);
- every ``CUSTOM_PARAMETER('x')`` is declared and every declared parameter is used;
- the output columns are the final select list (names and order; for a UNION, its first branch).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlglot import exp

    from amc_pipelines.catalog.models import ReportSpec

# Any window will do: compile_query reads no data; it only needs a valid one.
_CHECK_WINDOW = (datetime(2024, 1, 1), datetime(2024, 1, 8))
# A value of each AMC data type, so parameters without a default can be bound while checking.
_PLACEHOLDER_VALUES: dict[str, Any] = {
    "STRING": "",
    "BYTE": 0,
    "SHORT": 0,
    "INT": 0,
    "INTEGER": 0,
    "LONG": 0,
    "FLOAT": 0.0,
    "DOUBLE": 0.0,
    "DECIMAL": "0",
    "BOOLEAN": False,
    "DATE": date(2024, 1, 1),
    "TIMESTAMP": datetime(2024, 1, 1),
    "ARRAY": [],
}


def custom_parameter_names(tree: exp.Expression) -> list[str]:
    """The names used in ``CUSTOM_PARAMETER('name')`` calls, in order of first use."""
    from sqlglot import exp

    names: list[str] = []
    for call in tree.find_all(exp.Anonymous):
        if call.name.upper() != "CUSTOM_PARAMETER" or len(call.expressions) != 1:
            continue
        argument = call.expressions[0]
        if isinstance(argument, exp.Literal) and argument.is_string and argument.this not in names:
            names.append(argument.this)
    return names


def final_select_names(tree: exp.Expression) -> list[str] | None:
    """The output names of the final select list (of the first branch of a UNION); "" for an
    unnamed expression; None when the query has no plain SELECT at its top."""
    from sqlglot import exp

    node = tree
    while isinstance(node, exp.SetOperation | exp.Subquery):
        node = node.this
    if not isinstance(node, exp.Select):
        return None
    return [projection.alias_or_name for projection in node.expressions]


def sql_problems(spec: ReportSpec, show: Callable[[Any], str]) -> list[str]:
    """Every problem of ``spec``'s SQL, each naming the file (as ``show`` prints paths) and field."""
    from amc_pipelines.sandbox.sql import QueryRejected
    from amc_pipelines.sandbox.sql.engine import parse_amc

    yaml_file = show(spec.source_path)
    sql_file = show(spec.sql_path or spec.source_path)
    try:
        tree = parse_amc(spec.sql)
    except QueryRejected as error:
        return [f"{sql_file}: the SQL does not parse as AMC SQL: {error.reason}"]

    problems: list[str] = []
    used = custom_parameter_names(tree)
    declared = [p.name for p in spec.parameters]
    undeclared = [name for name in used if name not in declared]
    for name in undeclared:
        problems.append(
            f"{sql_file}: CUSTOM_PARAMETER('{name}') is not declared: add it under parameters: in {yaml_file} "
            f"(declared: {', '.join(declared) or 'none'})"
        )
    for index, name in enumerate(declared):
        if name not in used:
            problems.append(
                f"{yaml_file}: parameters[{index}]: '{name}' is declared but {sql_file} never uses "
                f"CUSTOM_PARAMETER('{name}'); use it or remove the declaration"
            )
    problems.extend(_output_column_problems(spec, tree, yaml_file, sql_file))
    if not undeclared:  # the translator would only repeat the undeclared-parameter problem
        try:
            _compile(spec)
        except QueryRejected as error:
            problems.append(f"{sql_file}: AMC would reject the query: {error.reason}")
    return problems


def _output_column_problems(spec: ReportSpec, tree: exp.Expression, yaml_file: str, sql_file: str) -> list[str]:
    selected = final_select_names(tree)
    if selected is None or "*" in selected:
        return []  # not a plain select list: compile_query rejects it with AMC's reason
    problems = [
        f"{sql_file}: item {position} of the final select list has no name: give it an alias (... AS name)"
        for position, name in enumerate(selected, start=1)
        if not name
    ]
    discriminator = spec.privacy.discriminator_column
    declared = [c.name for c in spec.output_columns if c.name != discriminator]
    if selected != declared and not problems:
        first = next(
            (i for i, (a, b) in enumerate(zip(declared, selected, strict=False)) if a != b),
            min(len(declared), len(selected)),
        )
        found = f"'{declared[first]}'" if first < len(declared) else "nothing"
        expected = f"'{selected[first]}'" if first < len(selected) else "nothing"
        problems.append(
            f"{yaml_file}: output_columns: must list the final select list of {sql_file} in order "
            f"({', '.join(selected)}){' plus the discriminator column last' if discriminator else ''}; "
            f"output_columns[{first}] is {found} where the select list has {expected}"
        )
    return problems


def _compile(spec: ReportSpec) -> None:
    """Run the sandbox's translator and AMC rules over ``spec``'s SQL; raises QueryRejected."""
    from amc_pipelines.params import amc_input_parameters
    from amc_pipelines.sandbox.sql import InputParameter, QueryRequest, compile_query

    input_parameters = [InputParameter.from_api(entry) for entry in amc_input_parameters(spec.parameters)]
    compile_query(
        QueryRequest(
            sql=spec.sql,
            time_window_start=_CHECK_WINDOW[0],
            time_window_end=_CHECK_WINDOW[1],
            parameter_values={p.name: _PLACEHOLDER_VALUES.get(p.data_type) for p in input_parameters},
            input_parameters=input_parameters,
            privacy_filtering_behavior=spec.privacy.behavior,
            filtered_metrics_discriminator_column=spec.privacy.discriminator_column,
        )
    )
