"""docs/architecture.md lists every top-level package and module of amc_pipelines and every `amc` command group."""

from __future__ import annotations

import re
from pathlib import Path

from amc_pipelines import cli

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "amc_pipelines"
DOC = REPO / "docs" / "architecture.md"


def _packages_section() -> str:
    text = DOC.read_text()
    start = text.index("\n## Packages\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def _listed_paths() -> list[str]:
    """The paths in the first column of the Packages table; a bare name (`runner.py`) is a sibling
    of the path before it in the same cell (`amc_pipelines/ledger.py`, `run_request.py`, `runner.py`)."""
    paths = []
    for line in _packages_section().splitlines():
        if not line.startswith("| `"):
            continue
        directory = ""
        for token in re.findall(r"`([^`]+)`", line.split("|")[1]):
            if token.startswith("amc_pipelines/"):
                directory = token.rstrip("/").rpartition("/")[0]
                paths.append(token)
            else:
                paths.append(f"{directory}/{token}")
    return paths


def _name(path: str) -> str:
    # Whether a unit is a module or a package is the code's business: `deployment/` or `deployment.py`.
    return path.rstrip("/").removesuffix(".py")


def test_every_listed_path_exists() -> None:
    missing = [p for p in _listed_paths()
               if not (REPO / _name(p)).is_dir() and not (REPO / f"{_name(p)}.py").is_file()]
    assert not missing, f"docs/architecture.md lists paths that do not exist: {missing}"


def test_every_top_level_package_and_module_is_listed() -> None:
    listed = {_name(p).split("/")[1] for p in _listed_paths()}
    present = {p.stem for p in PACKAGE.glob("*.py") if p.name != "__init__.py"}
    present |= {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert not present - listed, (f"add {sorted(present - listed)} to the Packages table of docs/architecture.md")


def test_every_amc_command_group_is_listed() -> None:
    row = next(line for line in _packages_section().splitlines() if line.startswith("| `amc_pipelines/commands/`"))
    documented = set(re.findall(r"`amc ([a-z-]+)`", row))
    assert documented == set(cli._GROUPS), (
        "the amc_pipelines/commands/ row of docs/architecture.md must name every `amc` command group "
        f"(missing {sorted(set(cli._GROUPS) - documented)}, not a command {sorted(documented - set(cli._GROUPS))})")
