#!/usr/bin/python3
"""benchmarks/scale-out: several corvid-servers on one PostgreSQL database (issue 16).

Prints, side by side in one run:
  1. groups/s of one load-generator fleet (corvid-loadgen: protocol workers with the real kernel
     and closed-loop developers) spread over 1, 2 and 3 servers, and the ratios to one server.
     On one small machine this shows what each server and the database cost, not a speed-up.
  2. the cost of the store on one server: SQLite (the default) against PostgreSQL.
  3. failover: a graph's owner killed with SIGKILL; the time from the kill to the first op the
     adopting server computes, against the lease time (target: under twice the lease).
Each figure is the median of --repeats runs. The PostgreSQL cluster is a throw-away one
(tests/postgres/pg_cluster.py). Usage: run.py --server-bin B --loadgen-bin B --worker-bin B
[--corvid-bin B] [--workers 60] [--developers 6] [--seconds 5] [--repeats 3] [--smoke]."""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "postgres"))
from pg_cluster import PgCluster, free_port  # noqa: E402


def status(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=5) as r:
        return json.loads(r.read())


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except OSError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


class Server:
    """One corvid-server process with its own data directory."""

    def __init__(self, args, store=None, lease_ms=None):
        self.dir = tempfile.mkdtemp(prefix="corvid-scale-out-")
        self.port = free_port()
        cmd = [args.server_bin, "--host", "127.0.0.1", "--port", str(self.port), "--data-dir", self.dir,
               "--verify", "off", "--max-worker-connects-per-s", "0"]
        if store:
            cmd += ["--store", store]
        if lease_ms:
            cmd += ["--lease-ms", str(lease_ms)]
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(lambda: status(self.port), 20, "corvid-server to answer")

    def token(self):
        with open(os.path.join(self.dir, "token")) as f:
            return f.read().strip()

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def groups_per_s(args, servers, workers, developers):
    """Runs one corvid-loadgen per server at once (the fleet split evenly) and sums groups/s."""
    procs = []
    for i, s in enumerate(servers):
        w = workers // len(servers) + (1 if i < workers % len(servers) else 0)
        d = developers // len(servers) + (1 if i < developers % len(servers) else 0)
        procs.append(subprocess.Popen(
            [args.loadgen_bin, "--port", str(s.port), "--token", s.token(), "--server-pid", str(s.proc.pid),
             "--workers", str(w), "--developers", str(d), "--seconds", str(args.seconds), "--idle-seconds", "0.2"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    total = 0.0
    for p in procs:
        out, _ = p.communicate(timeout=args.seconds * 10 + 60)
        if p.returncode != 0:
            raise RuntimeError(f"corvid-loadgen failed ({p.returncode}):\n{out[-2000:]}")
        row = [line.split() for line in out.splitlines() if line.split() and line.split()[0].isdigit()][-1]
        total += float(row[7])  # the groups/s column
    return total


def fleet_run(args, pg, n_servers, store_kind):
    """groups/s of the fleet over n_servers fresh servers (store_kind: 'postgresql' or 'sqlite')."""
    store = None
    if store_kind == "postgresql":
        name = f"bench{time.monotonic_ns()}"
        store = pg.create_database(name)
    servers = [Server(args, store) for _ in range(n_servers)]
    try:
        return groups_per_s(args, servers, args.workers, args.developers)
    finally:
        for s in servers:
            s.stop()


def chain_graph(length, size=96):
    import random
    rng = random.Random(length)
    w = [[round(rng.uniform(-1, 1) / size ** 0.5, 4) for _ in range(size)] for _ in range(size)]
    ops = [{"id": "w", "op": "tensor", "value": w, "dtype": "float32"},
           {"id": "x0", "op": "tensor", "value": w, "dtype": "float32"}]
    for i in range(1, length + 1):
        ops.append({"id": f"m{i}", "op": "matmul", "inputs": [f"x{i - 1}", "w"]})
        ops.append({"id": f"x{i}", "op": "tanh", "inputs": [f"m{i}"]})
    return {"name": "failover", "ops": ops, "outputs": [f"x{length}"]}


def failover_time(args, pg, lease_ms):
    """Seconds from SIGKILL of a graph's owner to the first op computed by the server adopting it."""
    store = pg.create_database(f"failover{time.monotonic_ns()}")
    a, b = Server(args, store, lease_ms), Server(args, store, lease_ms)
    workers = []
    try:
        for s in (a, b):
            workers.append(subprocess.Popen([args.worker_bin, "--server", f"ws://127.0.0.1:{s.port}", "--name",
                                             f"w{s.port}", "--slowdown", "10", "--benchmark-ms", "100"],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        path = os.path.join(a.dir, "chain.json")
        with open(path, "w") as f:
            json.dump(chain_graph(400), f)
        env = dict(os.environ, CORVID_TOKEN=a.token())
        env.pop("CORVID_SERVER", None)
        dev = subprocess.Popen([args.corvid_bin, "submit", path, "--server", f"ws://127.0.0.1:{a.port}"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: any(g["counts"].get("computed", 0) > 20 for g in status(a.port)["graphs"]), 60,
                   "the graph to be partly computed on its owner")
        dev.wait(timeout=30)
        a.stop(signal.SIGKILL)
        killed = time.monotonic()
        first = wait_until(lambda: next((g for g in status(b.port)["graphs"]), None), 10 * lease_ms / 1000 + 10,
                           "the other server to adopt the graph")
        at_adoption = first["counts"].get("computed", 0)
        wait_until(lambda: status(b.port)["graphs"][0]["counts"].get("computed", 0) > at_adoption, 30,
                   "the adopter's first computed op")
        return time.monotonic() - killed
    finally:
        for w in workers:
            w.kill()
            w.wait()
        a.stop(signal.SIGKILL)
        b.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server-bin", required=True)
    parser.add_argument("--loadgen-bin", required=True)
    parser.add_argument("--worker-bin", required=True)
    parser.add_argument("--corvid-bin", required=True)
    parser.add_argument("--workers", type=int, default=60)
    parser.add_argument("--developers", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--leases", default="1000,3000", help="lease times (ms) for the failover figure")
    parser.add_argument("--smoke", action="store_true", help="one short run of each figure (the ctest)")
    args = parser.parse_args()
    if args.smoke:
        args.workers, args.developers, args.seconds, args.repeats, args.leases = 6, 2, 1, 1, "1000"

    def median(f):
        return statistics.median(f() for _ in range(args.repeats))

    with PgCluster() as pg:
        print(f"scale-out: {args.workers} loadgen workers, {args.developers} developers, {args.seconds} s per run, "
              f"median of {args.repeats}; {os.cpu_count()} cores")
        sqlite1 = median(lambda: fleet_run(args, pg, 1, "sqlite"))
        pg_runs = {n: median(lambda n=n: fleet_run(args, pg, n, "postgresql")) for n in (1, 2, 3)}
        print(f"\n{'servers':>8} {'store':>11} {'groups/s':>10} {'vs 1 pg':>8}")
        for n, g in pg_runs.items():
            print(f"{n:>8} {'postgresql':>11} {g:>10.0f} {g / pg_runs[1]:>8.2f}")
        print(f"{1:>8} {'sqlite':>11} {sqlite1:>10.0f} {sqlite1 / pg_runs[1]:>8.2f}")
        print(f"\nstore cost on one server: PostgreSQL {pg_runs[1]:.0f} groups/s, SQLite {sqlite1:.0f} groups/s "
              f"(PostgreSQL / SQLite = {pg_runs[1] / sqlite1:.2f})")
        print(f"\n{'lease_ms':>9} {'failover_s':>11} {'/ lease':>8}  (kill -> first op computed by the adopter; "
              "target < 2)")
        for lease in [int(x) for x in args.leases.split(",")]:
            t = median(lambda lease=lease: failover_time(args, pg, lease))
            print(f"{lease:>9} {t:>11.2f} {t / (lease / 1000):>8.2f}")


if __name__ == "__main__":
    main()
