"""The README: its settings table lists exactly the settings the code reads, and its first-hour
walkthrough names make targets, amc commands and Dagster UI menus that exist."""

import re
import shlex
from pathlib import Path

import click
import dagster_webserver

from amc_pipelines.cli import main
from amc_pipelines.settings import settings_table

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_settings_table_matches_settings_module() -> None:
    text = README.read_text()
    for name, doc in settings_table():
        assert f"| `{name}` | {doc} |" in text, f"README settings table is missing or outdated for {name}"
    documented = {line.split("`")[1] for line in text.splitlines() if line.startswith(("| `AMC_", "| `OPENAI_"))}
    assert documented == {name for name, _ in settings_table()}


def test_readme_starts_with_the_two_commands() -> None:
    head = README.read_text()[:1200]
    assert "make demo" in head and "make test" in head


# ---- the first-hour walkthrough --------------------------------------------------------------------

MAKEFILE = README.parent / "Makefile"
WEBAPP = Path(dagster_webserver.__file__).parent / "webapp" / "build"


def _first_hour() -> str:
    text = README.read_text()
    start = text.index("## Your first hour")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_first_hour_names_make_targets_that_exist() -> None:
    section = _first_hour()
    makefile = MAKEFILE.read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.MULTILINE))
    named = re.findall(r"`make ([a-z-]+)((?: [A-Z_]+=\S+)*)`", section)
    assert {"demo", "dev"} <= {target for target, _ in named}
    for target, variables in named:
        assert target in targets, f"README: `make {target}` but the Makefile has no such target"
        for variable in re.findall(r"([A-Z_]+)=", variables):
            assert f"$({variable})" in makefile, f"README: `make {target} {variable}=...` but the Makefile ignores it"


def test_first_hour_names_amc_commands_and_options_that_exist() -> None:
    named = [" ".join(line.split()) for line in re.findall(r"`(amc [^`]+)`", _first_hour())]
    assert len(named) >= 4
    for line in named:
        words = shlex.split(line)[1:]
        command: click.Command = main
        context = click.Context(main)
        while isinstance(command, click.Group) and words and not words[0].startswith("-"):
            found = command.get_command(context, words[0])
            assert found is not None, f"README: `{line}`: `{words[0]}` is not an amc command"
            command, words = found, words[1:]
        assert not isinstance(command, click.Group), f"README: `{line}` names a group, not a command"
        options = {opt for param in command.params for opt in param.opts}
        for word in words:
            if word.startswith("-"):
                assert word in options, f"README: `{line}`: {command.name} has no option {word}"


def test_first_hour_names_menus_the_dagster_ui_has() -> None:
    """Every bold UI name of the walkthrough (not the steps' own titles) is text of the Dagster UI
    this project pins, so a Dagster upgrade that renames a menu fails here."""
    section = _first_hour()
    titles = set(re.findall(r"^\d+\. \*\*([^*]+)\*\*", section, re.MULTILINE))
    names = {" ".join(name.split()).rstrip("…") for name in re.findall(r"\*\*([^*]+)\*\*", section)} - titles
    names = {name for name in names if any(c.isalpha() for c in name)}
    assert {"Catalog", "Partitions", "Materialize", "Launch backfill", "Re-execute from failure", "Automation"} <= names
    bundle = "".join(path.read_text(errors="replace") for path in WEBAPP.rglob("*.js"))
    missing = sorted(name for name in names if f'"{name}"' not in bundle and f'"{name} ' not in bundle)
    assert not missing, f"the Dagster UI has no {missing}: update the README's first-hour steps"
