"""Typed report parameters and AMC time windows: the one renderer and the one window function.

``parameters``: declarations, validation, conversion to AMC ``parameterValues`` / ``inputParameters``.
``windows``: calendar weeks, explicit windows, data lag, retention, provisional flag.
``expressions``: date expressions for ad hoc runs (today(-n), last_week, mtd, ...).
"""

from amc_pipelines.params.expressions import EXPRESSION_FORMS, window_from_expression
from amc_pipelines.params.parameters import (
    ParameterError,
    ParameterSpec,
    ParameterType,
    amc_input_parameters,
    amc_parameter_values,
    coerce_parameters,
    parameters_hash,
)
from amc_pipelines.params.windows import (
    AMC_TIME_FORMAT,
    WEEK_STARTS,
    TimeWindow,
    WindowError,
    add_months,
    check_collectable,
    check_time_zone,
    check_week_start,
    collectable_at,
    day_window,
    earliest_retained_start,
    earliest_retained_week,
    explicit_window,
    is_provisional,
    latest_collectable_week,
    local_now,
    week_start_of,
    week_window,
)

__all__ = [
    "AMC_TIME_FORMAT",
    "EXPRESSION_FORMS",
    "WEEK_STARTS",
    "ParameterError",
    "ParameterSpec",
    "ParameterType",
    "TimeWindow",
    "WindowError",
    "add_months",
    "amc_input_parameters",
    "amc_parameter_values",
    "check_collectable",
    "check_time_zone",
    "check_week_start",
    "coerce_parameters",
    "collectable_at",
    "day_window",
    "earliest_retained_start",
    "earliest_retained_week",
    "explicit_window",
    "is_provisional",
    "latest_collectable_week",
    "local_now",
    "parameters_hash",
    "week_start_of",
    "week_window",
    "window_from_expression",
]
