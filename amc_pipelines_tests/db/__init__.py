"""Tests of amc_pipelines.db and the `amc db` / `amc instances` commands."""
