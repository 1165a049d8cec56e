"""Insights: findings from statistics over the weekly marts (no LLM, no Dagster).

``findings`` holds the value types (:class:`Finding`), ``stats`` the tests (robust baselines, count
tests for rates, Benjamini-Hochberg, Theil-Sen with Mann-Kendall), ``detect`` the detectors over
pandas frames of ``marts.fct_campaign_week`` rows, ``reader`` loads those rows for one instance and a
week range, ``replay`` builds the same weekly frame from sandbox data through the
campaign_performance report SQL, and ``evaluation`` scores findings against planted anomalies.
numpy, pandas and scipy are imported by those modules only, so importing this package stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DetectionConfig", "Finding", "detect_findings", "load_marts"]


def __getattr__(name: str) -> Any:
    if name == "Finding":
        from .findings import Finding

        return Finding
    if name in ("DetectionConfig", "detect_findings"):
        from . import detect

        return getattr(detect, name)
    if name == "load_marts":
        from .reader import load_marts

        return load_marts
    raise AttributeError(name)
