"""The latency cost of `--verify replicate` against `off`: a small graph (the README example, 2 ops
for the workers) submitted one at a time with `corvid submit --wait --json` to a local server with
2 honest corvid-workers; prints the median and 90th percentile wall time per policy, and
a fleet of one (1 worker, the server's own kernel gives the second opinion).

  python3 benchmarks/verification/latency.py build/native [runs]
"""
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
from harness import Cluster  # noqa: E402


def measure(build, policy, workers, runs):
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
        path = os.path.join(HERE, "..", "..", "tests", "integration", "graphs", "readme_example.json")
        times = []
        for _ in range(runs):
            start = time.monotonic()
            code, _, err = c.corvid("submit", path, "--wait", "--json")
            times.append((time.monotonic() - start) * 1000)
            assert code == 0, err
        return times
    finally:
        c.stop()


def main():
    build = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    for policy, workers in (("off", 2), ("replicate", 2), ("off", 1), ("replicate", 1)):
        t = sorted(measure(build, policy, workers, runs))
        print(f"{policy:9} {workers} worker(s): median {statistics.median(t):6.1f} ms, "
              f"p90 {t[int(0.9 * (len(t) - 1))]:6.1f} ms over {runs} submits")


if __name__ == "__main__":
    main()
