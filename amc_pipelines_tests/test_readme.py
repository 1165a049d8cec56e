"""The README's settings table lists exactly the settings the code reads."""

from pathlib import Path

from amc_pipelines.settings import settings_table

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_settings_table_matches_settings_module() -> None:
    text = README.read_text()
    for name, doc in settings_table():
        assert f"| `{name}` | {doc} |" in text, f"README settings table is missing or outdated for {name}"
    documented = {line.split("`")[1] for line in text.splitlines() if line.startswith("| `AMC_")}
    assert documented == {name for name, _ in settings_table()}


def test_readme_starts_with_the_two_commands() -> None:
    head = README.read_text()[:1200]
    assert "make demo" in head and "make test" in head
