"""Settings: defaults, parsing, and errors that name the variable and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from amc_pipelines.settings import SANDBOX_DEFAULT_URL, Settings, SettingsError, get_settings, settings_table


def test_defaults(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({})
    assert settings.home == tmp_path / ".amc"
    assert settings.database_url is None and settings.embedded_database
    assert settings.api_url == SANDBOX_DEFAULT_URL
    assert settings.token_url == f"{SANDBOX_DEFAULT_URL}/auth/o2/token"
    assert (settings.data_lag_hours, settings.week_start) == (48, "monday")
    assert (settings.sandbox_host, settings.sandbox_port, settings.sandbox_seed, settings.sandbox_size) == (
        "127.0.0.1", 8765, 7, "demo")
    assert settings.sandbox_dir == tmp_path / ".amc" / "sandbox"
    assert (settings.client_id, settings.client_secret, settings.refresh_token) == (None, None, None)


def test_values_are_parsed_and_trimmed(tmp_path) -> None:
    settings = Settings.from_env({
        "AMC_HOME": f" {tmp_path} ",
        "AMC_DATABASE_URL": "postgres://u:p@h:5432/d",
        "AMC_API_URL": "https://advertising-api.amazon.com/",
        "AMC_DATA_LAG_HOURS": "72",
        "AMC_WEEK_START": "Sunday",
        "AMC_SANDBOX_SIZE": "LARGE",
        "AMC_CLIENT_ID": "amzn1.application-oa2-client.x",
    })
    assert settings.home == tmp_path
    assert settings.database_url == "postgres://u:p@h:5432/d" and not settings.embedded_database
    assert settings.api_url == "https://advertising-api.amazon.com"
    assert settings.token_url == "https://advertising-api.amazon.com/auth/o2/token"
    assert (settings.data_lag_hours, settings.week_start, settings.sandbox_size) == (72, "sunday", "large")
    assert settings.client_id == "amzn1.application-oa2-client.x"


def test_blank_values_count_as_unset() -> None:
    settings = Settings.from_env({"AMC_DATABASE_URL": "  ", "AMC_DATA_LAG_HOURS": ""})
    assert settings.database_url is None and settings.data_lag_hours == 48


def test_sandbox_host_and_port_shape_the_default_api_url() -> None:
    settings = Settings.from_env({"AMC_SANDBOX_HOST": "0.0.0.0", "AMC_SANDBOX_PORT": "9000"})
    assert settings.api_url == "http://0.0.0.0:9000"
    assert Settings.from_env({"AMC_SANDBOX_PORT": "9000", "AMC_API_URL": "http://x:1"}).api_url == "http://x:1"


def test_secrets_stay_out_of_repr() -> None:
    settings = Settings.from_env({"AMC_CLIENT_SECRET": "very-secret", "AMC_REFRESH_TOKEN": "Atzr|token"})
    assert settings.client_secret == "very-secret"
    assert "very-secret" not in repr(settings) and "Atzr" not in repr(settings)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"AMC_DATA_LAG_HOURS": "two"}, "AMC_DATA_LAG_HOURS='two' is not a whole number; set it to an integer between 0 and 1440"),
        ({"AMC_DATA_LAG_HOURS": "-1"}, "AMC_DATA_LAG_HOURS=-1 is out of range; set it between 0 and 1440"),
        ({"AMC_SANDBOX_PORT": "70000"}, "AMC_SANDBOX_PORT=70000 is out of range; set it between 1 and 65535"),
        ({"AMC_SANDBOX_SEED": "x"}, "AMC_SANDBOX_SEED='x' is not a whole number"),
        ({"AMC_WEEK_START": "friday"}, "AMC_WEEK_START='friday' is not valid: use 'monday' or 'sunday'"),
        ({"AMC_SANDBOX_SIZE": "huge"}, "AMC_SANDBOX_SIZE='huge' is not valid: use small, demo or large"),
        ({"AMC_API_URL": "ftp://x"}, "AMC_API_URL='ftp://x' is not an http(s) URL"),
        ({"AMC_TOKEN_URL": "localhost:8765"}, "AMC_TOKEN_URL='localhost:8765' is not an http(s) URL"),
        ({"AMC_DATABASE_URL": "mysql://u:pw@h/d"}, "AMC_DATABASE_URL='mysql://u:***@h/d' is not a PostgreSQL URL"),
    ],
)
def test_bad_values_name_the_variable_and_the_fix(environ, message) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(environ)
    assert str(caught.value).startswith(message)
    assert "pw@" not in str(caught.value)


def test_get_settings_reads_the_environment_each_call(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("AMC_HOME", str(tmp_path / "a"))
    assert get_settings().home == tmp_path / "a"
    monkeypatch.setenv("AMC_HOME", str(tmp_path / "b"))
    assert get_settings().home == tmp_path / "b"


def test_home_expands_the_user_directory(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert Settings.from_env({"AMC_HOME": "~/amc"}).home == Path(tmp_path / "amc")


def test_settings_table_documents_every_setting() -> None:
    table = dict(settings_table())
    for name in ("AMC_HOME", "AMC_DATABASE_URL", "AMC_API_URL", "AMC_DATA_LAG_HOURS", "AMC_TEST_DATABASE_URL"):
        assert table[name]
    assert all(description.strip() for description in table.values())


def test_region_mode_uses_amazon_token_host() -> None:
    from amc_pipelines.settings import AMAZON_TOKEN_URL, Settings

    settings = Settings.from_env({"AMC_API_URL": "region"})
    assert settings.api_url == "region"
    assert settings.token_url == AMAZON_TOKEN_URL


def test_openai_settings_default_to_the_sandboxs_stand_in() -> None:
    default = Settings.from_env({})
    assert default.openai_api_key is None and default.openai_stand_in
    assert default.openai_base_url == f"{SANDBOX_DEFAULT_URL}/v1"
    assert Settings.from_env({"AMC_SANDBOX_PORT": "9000"}).openai_base_url == "http://127.0.0.1:9000/v1"
    real = Settings.from_env({"AMC_OPENAI_BASE_URL": "https://api.openai.com/v1/", "OPENAI_API_KEY": "sk-live-secret"})
    assert real.openai_base_url == "https://api.openai.com/v1" and not real.openai_stand_in
    assert real.openai_api_key == "sk-live-secret" and "sk-live-secret" not in repr(real)
    with pytest.raises(SettingsError, match="AMC_OPENAI_BASE_URL='localhost:1' is not an http"):
        Settings.from_env({"AMC_OPENAI_BASE_URL": "localhost:1"})
