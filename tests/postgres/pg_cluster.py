#!/usr/bin/env python3
"""A throw-away PostgreSQL cluster for tests and benchmarks: initdb in a temporary directory,
pg_ctl start on a free loopback port (socket in the same directory), stop and delete on exit.
As root the cluster runs as the unprivileged user `postgres` (PostgreSQL refuses root).

As a module: `with PgCluster() as pg: pg.create_database("x")` gives `pg.url("x")`.
As a command: `pg_cluster.py [--databases N] -- COMMAND ARGS...` runs COMMAND with
CORVID_TEST_PG set to the URL of a fresh database (and CORVID_TEST_PG_ADMIN to the `postgres`
database, for tests that create their own), and exits with COMMAND's status.
If the PostgreSQL server binaries are missing it fails with a message saying what to install:
a test that needs PostgreSQL never passes without it."""

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile

BIN_GLOB = "/usr/lib/postgresql/*/bin"


def find_bin_dir():
    """The newest /usr/lib/postgresql/<version>/bin holding initdb and pg_ctl."""
    dirs = [d for d in glob.glob(BIN_GLOB) if os.path.exists(os.path.join(d, "initdb"))]
    if not dirs:
        on_path = shutil.which("initdb")
        if on_path:
            return os.path.dirname(on_path)
        raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found in " + BIN_GLOB +
                           ": install Debian's `postgresql` package (scripts/install-deps.sh does)")
    return sorted(dirs, key=lambda d: int(d.split("/")[-2]) if d.split("/")[-2].isdigit() else 0)[-1]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    """One cluster in a temporary directory; stop() (or leaving the `with`) removes it."""

    def __init__(self):
        self.bin = find_bin_dir()
        self.dir = tempfile.mkdtemp(prefix="corvid-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        self.started = False

    def _run(self, *args):
        cmd = list(args)
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({out.returncode}):\n{out.stdout}")
        return out.stdout

    def start(self):
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        os.chmod(self.dir, 0o700)
        self._run(os.path.join(self.bin, "initdb"), "-D", self.data, "-A", "trust", "-U", "postgres",
                  "--no-sync", "-E", "UTF8")
        # fsync stays on: the store's promise (submitted means committed) is tested as it runs.
        self._run(os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-l", os.path.join(self.dir, "log"),
                  "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200",
                  "-w", "-t", "30", "start")
        self.started = True
        return self

    def url(self, database="postgres"):
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def sql(self, statement, database="postgres"):
        """Runs one statement with psql and returns its unaligned output."""
        psql = os.path.join(self.bin, "psql")
        if not os.path.exists(psql):
            psql = shutil.which("psql") or psql
        out = subprocess.run([psql, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", self.url(database), "-c", statement],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"psql {statement!r}: {out.stdout}")
        return out.stdout.strip()

    def create_database(self, name):
        self.sql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self):
        if self.started:
            try:
                self._run(os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", "immediate", "-w", "stop")
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                print(f"pg_cluster: stopping the cluster: {e}", file=sys.stderr)
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv):
    if "--" not in argv:
        print("usage: pg_cluster.py -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    command = argv[argv.index("--") + 1:]
    try:
        with PgCluster() as pg:
            env = dict(os.environ, CORVID_TEST_PG=pg.create_database("corvid"), CORVID_TEST_PG_ADMIN=pg.url())
            return subprocess.run(command, env=env).returncode
    except RuntimeError as e:
        print(f"pg_cluster: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
