"""A real PostgreSQL for the store tests: Debian's binaries (initdb, pg_ctl) run a
throwaway server on 127.0.0.1 in a temporary folder (as the postgres user when we are
root, since postgres refuses root), one per pytest session, stopped when it ends.
Skipped only when the binaries are missing and CI is unset; in CI they must be there."""
from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

BINARIES = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
                  key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                  else 0)
SETTINGS = ("-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=100")
_server: PgServer | None = None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PgServer:
    """One running server; `database()` makes a fresh, empty database and gives its URL."""

    def __init__(self) -> None:
        self.bin = BINARIES[-1].parent
        self.root = Path(tempfile.mkdtemp(prefix="studio-pg-"))
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self.data, self.port = self.root / "data", _free_port()
        self.names = itertools.count(1)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-sync", "--no-instructions")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"),
                  "-w", "-t", "60", "-o", f"{SETTINGS} -p {self.port} -k {self.root}",
                  "start")

    def _run(self, program: str, *args: str, check: bool = True) -> int:
        done = subprocess.run([*self.as_postgres, str(self.bin / program), *args],
                              capture_output=True, text=True, timeout=120)
        if check and done.returncode:
            raise RuntimeError(f"{program} failed ({done.returncode}): "
                               f"{done.stderr.strip() or done.stdout.strip()}")
        return done.returncode

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        """A new empty database's URL."""
        import psycopg

        name = f"store_{next(self.names)}"
        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                             dbname="postgres", autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False) == 0

    def stop(self) -> None:
        """Stop the server (fast shutdown), check it is gone, remove its folder."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)
        if self.running():
            raise RuntimeError(f"the test PostgreSQL in {self.root} is still running")
        shutil.rmtree(self.root, ignore_errors=True)


def server(request: pytest.FixtureRequest) -> PgServer:
    """The session's server, started on first use and stopped at the session's end."""
    global _server
    if _server is None:
        if not BINARIES:
            if os.environ.get("CI"):
                pytest.fail("PostgreSQL binaries are missing (apt-get install postgresql); "
                            "CI must run the PostgreSQL store tests")
            pytest.skip("no PostgreSQL binaries under /usr/lib/postgresql (and CI is unset)")
        _server = PgServer()
        request.config.add_cleanup(_stop)
    return _server


def _stop() -> None:
    global _server
    if _server is not None:
        _server.stop()
        _server = None
