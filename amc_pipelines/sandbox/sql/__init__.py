"""The sandbox's AMC SQL engine: AMC SQL translated to DuckDB, limited to the execution window,
with AMC's dialect rules, typed parameters and aggregation thresholds."""

from amc_pipelines.sandbox.sql.engine import SqlEngine, compile_query, run_sql_text
from amc_pipelines.sandbox.sql.models import InputParameter, QueryFailed, QueryRejected, QueryRequest
from amc_pipelines.sandbox.sql.results import QueryResult

__all__ = [
    "InputParameter",
    "QueryFailed",
    "QueryRejected",
    "QueryRequest",
    "QueryResult",
    "SqlEngine",
    "compile_query",
    "run_sql_text",
]
