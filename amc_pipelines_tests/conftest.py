"""Shared fixtures: each area's fixtures live in a plugin module under fixtures/."""

pytest_plugins = [
    "amc_pipelines_tests.fixtures.clock",
    "amc_pipelines_tests.fixtures.database",
    "amc_pipelines_tests.fixtures.sandbox_data",
    "amc_pipelines_tests.fixtures.sandbox_server",
    "amc_pipelines_tests.fixtures.bigquery",
    "amc_pipelines_tests.fixtures.openai",
]
