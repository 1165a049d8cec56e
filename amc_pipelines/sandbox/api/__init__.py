"""The AMC sandbox HTTP service: the AMC Reporting API over synthetic data, with faults on demand.

Public API: :class:`SandboxConfig` (with :class:`Latency` / :class:`FaultRates` parsing),
:func:`serve` / :func:`serve_options` (blocking) and :class:`SandboxServer` (background thread).
"""

from .config import ConfigError, FaultRates, Latency, SandboxConfig
from .server import SandboxServer, serve, serve_options

__all__ = ["ConfigError", "FaultRates", "Latency", "SandboxConfig", "SandboxServer", "serve", "serve_options"]
