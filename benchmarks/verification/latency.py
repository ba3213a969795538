"""The latency cost of `--verify replicate` and `adaptive` (the default) against `off`: a small graph (the README example, 2 ops
for the workers) and a compute-bound one (two 384² matmuls), submitted one at a time with
`corvid submit --wait --json` to a local server with 2 honest corvid-workers, and with 1 (a fleet
of one: the server's own kernel gives the second opinion); prints the median and 90th percentile
wall time (CLI start to exit), the server's CPU time over the runs (/proc: its own kernel gives
the second opinions of a fleet of one) and its group counters.

  python3 benchmarks/verification/latency.py build/native [runs]
"""
import os
import statistics
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
from harness import Cluster  # noqa: E402


# A compute-bound graph: two 384 x 384 matmuls of random operands (the sources are computed by the
# server at submit), about 0.1 GFLOP for the workers.
MATMUL = {"name": "matmul", "ops": [
    {"id": "a", "op": "random_normal", "params": {"shape": [384, 384], "seed": 1}},
    {"id": "b", "op": "random_normal", "params": {"shape": [384, 384], "seed": 2}},
    {"id": "c", "op": "matmul", "inputs": ["a", "b"]},
    {"id": "d", "op": "matmul", "inputs": ["c", "b"]},
    {"id": "s", "op": "sum", "inputs": ["d"]}], "outputs": ["s"]}


def cpu_ms(pid):
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def measure(build, policy, workers, runs, graph):
    class Bins:
        server = os.path.join(build, "server", "corvid-server")
        worker = os.path.join(build, "client", "corvid-worker")
        corvid = os.path.join(build, "client", "corvid")

    c = Cluster(Bins, f"latency-{policy}")
    try:
        c.start_server("--verify", policy)
        names = [f"w{i}" for i in range(workers)]
        for n in names:
            c.start_worker(n)
        c.wait_workers_ready(names)
        path = (os.path.join(HERE, "..", "..", "tests", "integration", "graphs", "readme_example.json")
                if graph == "readme" else c.graph_file("matmul.json", MATMUL))
        times = []
        server_cpu = cpu_ms(c.server.pid)
        for _ in range(runs):
            start = time.monotonic()
            code, _, err = c.corvid("submit", path, "--wait", "--json")
            times.append((time.monotonic() - start) * 1000)
            assert code == 0, err
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{c.port}/metrics").read().decode()
        counts = {line.split()[0]: line.split()[1] for line in metrics.splitlines()
                  if line.startswith(("corvid_groups_completed_total", "corvid_groups_verified_total",
                                      "corvid_server_replicas_total"))}
        return times, counts, cpu_ms(c.server.pid) - server_cpu
    finally:
        c.stop()


def main():
    build = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    for graph, policy, workers in [(g, p, w) for g in ("readme", "matmul") for w in (2, 1) for p in ("off", "replicate", "adaptive")]:
        t, counts, server_ms = measure(build, policy, workers, runs, graph)
        t.sort()
        print(f"{graph:6} {policy:9} {workers} worker(s): median {statistics.median(t):6.1f} ms, "
              f"p90 {t[int(0.9 * (len(t) - 1))]:6.1f} ms over {runs} submits; server CPU {server_ms / runs:5.1f} ms "
              f"per submit; {counts}")


if __name__ == "__main__":
    main()
