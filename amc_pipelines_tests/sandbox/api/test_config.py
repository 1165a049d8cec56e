"""Parsing of the sandbox's --latency and --faults strings."""

from __future__ import annotations

import pytest

from amc_pipelines.sandbox.api import ConfigError, FaultRates, Latency, SandboxConfig


def test_latency_fixed_and_range():
    assert Latency.parse("0.5") == Latency(0.5, 0.5)
    assert Latency.parse("0.2-1") == Latency(0.2, 1.0)
    assert Latency.parse(None) == Latency(0.0, 0.0)
    assert str(Latency.parse("0.2-1")) == "0.2-1"


@pytest.mark.parametrize("text", ["fast", "1-0.5", "-1", "0.2-x"])
def test_latency_errors_say_what_to_write(text):
    with pytest.raises(ConfigError, match="--latency"):
        Latency.parse(text)


def test_faults_parse_every_kind():
    rates = FaultRates.parse("5xx=0.2,429=0.05,timeout=0.02,slow=0.01,drop=0.01,failed=0.05,truncate=0.05,expire=0.1")
    assert rates == FaultRates(
        server_error=0.2, throttled=0.05, timeout=0.02, slow=0.01, dropped=0.01, failed=0.05, truncated=0.05, expired=0.1
    )
    assert FaultRates.parse(str(rates)) == rates
    assert FaultRates.parse("") == FaultRates()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("boom=0.1", "KIND=RATE"),
        ("5xx", "KIND=RATE"),
        ("5xx=lots", "number"),
        ("429=1.5", "between 0 and 1"),
        ("5xx=0.6,429=0.6", "sum <= 1"),
    ],
)
def test_fault_errors_say_what_to_write(text, message):
    with pytest.raises(ConfigError, match=message):
        FaultRates.parse(text)


def test_config_from_cli_options(tmp_path):
    config = SandboxConfig.from_options(
        host="0.0.0.0", port=9000, latency="1-2", faults="5xx=0.1", seed=3, size="small", data_dir=str(tmp_path)
    )
    assert config.latency == Latency(1, 2)
    assert config.faults.server_error == 0.1
    assert config.results_dir == tmp_path / "work"
    with pytest.raises(ConfigError, match="size"):
        SandboxConfig(size="huge")
