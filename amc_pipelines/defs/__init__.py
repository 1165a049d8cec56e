"""Dagster wiring by area. Each area module exposes ``defs``; ``amc_pipelines.definitions`` merges them.

Domain logic lives outside this package; modules here only turn it into Dagster objects.
"""
