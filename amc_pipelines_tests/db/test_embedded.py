"""The embedded PostgreSQL: start, stop, restart on the same data, several processes at once."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import psycopg
import pytest

from amc_pipelines.db import current, database_url, head, libpq_url, upgrade
from amc_pipelines.db.embedded import data_dir, embedded_status, ensure_embedded_server, stop_embedded_server
from amc_pipelines.settings import Settings
from amc_pipelines_tests.fixtures.database import temporary_amc_home

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the embedded server is for Linux and macOS")

ATTACH_SCRIPT = """
import sys
import psycopg
from amc_pipelines.db import database_url, libpq_url
from amc_pipelines.db.embedded import embedded_status
from amc_pipelines.settings import get_settings
url = database_url()
with psycopg.connect(libpq_url(url), autocommit=True) as conn:
    conn.execute("INSERT INTO visits VALUES (%s)", (sys.argv[1],))
print(url)
print(embedded_status(get_settings().home).pid)
"""


@pytest.fixture(scope="module")
def home():
    """A running embedded server with a migrated ``amc`` database and a ``visits`` table."""
    with temporary_amc_home() as home:
        url = database_url(_settings(home))
        upgrade(url)
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            conn.execute("CREATE TABLE visits (label text)")
        yield home


def _settings(home: Path) -> Settings:
    return Settings.from_env({"AMC_HOME": str(home)})


def _run_child(home: Path, label: str) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMC_")} | {"AMC_HOME": str(home)}
    done = subprocess.run([sys.executable, "-c", ATTACH_SCRIPT, label], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    url, pid = done.stdout.split()
    return url, int(pid)


def test_start_stop_restart_keeps_the_data(home: Path) -> None:
    url = database_url(_settings(home))
    assert url.startswith("postgresql+psycopg://postgres@/amc?host=")
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("INSERT INTO visits VALUES ('before restart')")
    first_pid = embedded_status(home).pid

    assert stop_embedded_server(home) is True
    assert embedded_status(home).running is False
    assert stop_embedded_server(home) is False

    assert database_url(_settings(home)) == url  # same data directory, same socket
    assert embedded_status(home).pid != first_pid
    assert current(url) == head()
    with psycopg.connect(libpq_url(url)) as conn:
        assert ("before restart",) in conn.execute("SELECT label FROM visits").fetchall()


def test_another_process_attaches_and_its_exit_leaves_the_server_running(home: Path) -> None:
    url = database_url(_settings(home))
    server_pid = embedded_status(home).pid
    with psycopg.connect(libpq_url(url), autocommit=True) as held:
        child_url, child_seen_pid = _run_child(home, "from child")
        assert (child_url, child_seen_pid) == (url, server_pid)
        # the parent's session outlived the child and sees its write
        assert ("from child",) in held.execute("SELECT label FROM visits").fetchall()
    assert embedded_status(home).pid == server_pid


def test_a_process_that_started_the_server_does_not_stop_it_on_exit(home: Path) -> None:
    stop_embedded_server(home)
    _, started_by_child = _run_child(home, "child started it")
    status = embedded_status(home)
    assert status.running and status.pid == started_by_child
    with psycopg.connect(libpq_url(database_url(_settings(home)))) as conn:
        assert ("child started it",) in conn.execute("SELECT label FROM visits").fetchall()


def test_a_stale_pid_file_from_a_previous_boot_is_ignored(home: Path) -> None:
    ensure_embedded_server(home)
    pid_file = data_dir(home) / "postmaster.pid"
    lines = pid_file.read_text().splitlines()
    stop_embedded_server(home)
    # After a reboot the recorded pid may belong to an unrelated process (here: this Python).
    pid_file.write_text("\n".join([str(os.getpid()), *lines[1:]]) + "\n")
    url = database_url(_settings(home))
    assert embedded_status(home).pid != os.getpid()
    with psycopg.connect(libpq_url(url)) as conn:
        assert conn.execute("SELECT count(*) FROM visits").fetchone()[0] >= 0


@pytest.mark.skipif(os.geteuid() != 0, reason="runs only as root (as a normal user every other test covers it)")
def test_as_root_postgres_runs_as_the_pgserver_system_user(home: Path) -> None:
    ensure_embedded_server(home)
    owner = pwd.getpwuid(data_dir(home).stat().st_uid).pw_name
    assert owner == "pgserver"
    assert psutil.Process(embedded_status(home).pid).username() == "pgserver"


NOBODY_SCRIPT = """
from amc_pipelines.db import current, database_url, upgrade
from amc_pipelines.db.embedded import data_dir, stop_embedded_server
from amc_pipelines.settings import get_settings
import os
home = get_settings().home
url = database_url()
upgrade(url)
print(current(url), os.stat(data_dir(home)).st_uid == os.getuid(), stop_embedded_server(home))
"""


# Drop root's groups too: with only user= the child keeps gid 0 and group permissions apply.
AS_NOBODY = {"user": "nobody", "group": "nogroup", "extra_groups": []}


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to the nobody user")
def test_as_a_normal_user() -> None:
    try:
        probe = subprocess.run([sys.executable, "-c", "import amc_pipelines.db"], **AS_NOBODY, capture_output=True, cwd="/")
    except PermissionError:
        probe = None
    if probe is None or probe.returncode != 0:
        pytest.skip("the nobody user cannot run this Python (its installation is not readable by other users)")
    base = Path(tempfile.mkdtemp(prefix="amc-nobody-"))
    try:
        base.chmod(0o755)
        os.chown(base, pwd.getpwnam("nobody").pw_uid, -1)
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(base), "AMC_HOME": str(base / "amc")}
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
        done = subprocess.run(
            [sys.executable, "-c", NOBODY_SCRIPT], **AS_NOBODY, env=env, cwd=base, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == [head(), "True", "True"]
    finally:
        shutil.rmtree(base, ignore_errors=True)
