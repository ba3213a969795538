"""The compute and makespan cost of verification on a fleet (issue 10's benchmark): one graph of
N independent (matmul 512² + sum) pairs, computed by 4 honest corvid-workers on a local server
under `--verify off`, `replicate` and `adaptive` (a fresh server each: every worker starts
untrusted; then a second graph on the same server, once the workers earned trust). Compute spent
is the CPU time (user + system, from /proc) of the 4 worker processes and of the server (whose
own kernel gives spot checks and tie-breaks), over what `off` spent on the same graph; makespan is
the wall time of `corvid submit --wait --json`. Then one liar (--lie 0.1) among 4 under `adaptive`: how many wrong
results it returned before quarantine, and how many wrong values reached the developer (outputs
compared with the honest `off` run's).

  python3 benchmarks/verification/fleet.py build/native [ops]
"""
import json
import os
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
from harness import Cluster  # noqa: E402


def graph(name, n):
    ops = [{"id": "a", "op": "random_normal", "params": {"shape": [512, 512], "seed": 1}},
           {"id": "b", "op": "random_normal", "params": {"shape": [512, 512], "seed": 2}}]
    for i in range(n):
        # Each pair scales a by its own constant so no two ops compute the same thing.
        ops.append({"id": f"k{i}", "op": "tensor", "value": 1 + i / n, "dtype": "float32"})
        ops.append({"id": f"s{i}", "op": "mul", "inputs": ["a", f"k{i}"]})
        ops.append({"id": f"m{i}", "op": "matmul", "inputs": [f"s{i}", "b"]})
        ops.append({"id": f"r{i}", "op": "sum", "inputs": [f"m{i}"]})
    return {"name": name, "ops": ops, "outputs": [f"r{i}" for i in range(n)]}


def scalar(data):
    """The number in a --json output's data (a scalar op's is a number, or a list of one)."""
    while isinstance(data, list):
        data = data[0]
    return float(data)


def metric(c, name):
    text = urllib.request.urlopen(f"http://127.0.0.1:{c.port}/metrics").read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def cpu_ms(pid):
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def spent_ms(c):
    """CPU time of the workers and of the server so far, the server's alone, and the results the
    server took."""
    workers = sum(cpu_ms(p.pid) for p in c.workers.values())
    server = cpu_ms(c.server.pid)
    return workers + server, server, metric(c, "corvid_groups_completed_total")


def submit(c, doc):
    path = c.graph_file(f"{doc['name']}.json", doc)
    start = time.monotonic()
    code, out, err = c.corvid("submit", path, "--wait", "--json", timeout=900)
    assert code == 0, err
    return (time.monotonic() - start) * 1000, json.loads(out)


def cluster(build, tag, policy, liar=None):
    class Bins:
        server = os.path.join(build, "server", "corvid-server")
        worker = os.path.join(build, "client", "corvid-worker")
        corvid = os.path.join(build, "client", "corvid")

    c = Cluster(Bins, f"fleet-{tag}")
    c.start_server("--verify", policy)
    names = [f"w{i}" for i in range(4)]
    for n in names:
        c.start_worker(n, 1, *(liar if liar and n == "w0" else []))
    c.wait_workers_ready(names)
    return c


def main():
    build = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    doc = graph("fleet", n)
    rows, baseline = [], None
    for policy in ("off", "replicate", "adaptive"):
        c = cluster(build, policy, policy)
        try:
            for phase in ("cold", "warm"):
                before, server_before, groups_before = spent_ms(c)
                ms, result = submit(c, dict(doc, name=f"{policy}-{phase}"))
                after, server_after, groups_after = spent_ms(c)
                if policy == "off" and phase == "cold":
                    baseline = result["outputs"]
                rows.append((policy, phase, ms, after - before, server_after - server_before, groups_after - groups_before,
                             result["verification"]))
        finally:
            c.stop()
    needed = {phase: spent for policy, phase, _, spent, _, _, _ in rows if policy == "off"}
    makespan_off = {phase: ms for policy, phase, ms, _, _, _, _ in rows if policy == "off"}
    print(f"{n} (matmul 512² + sum) pairs on 4 honest workers:")
    for policy, phase, ms, spent, server, groups, v in rows:
        print(f"  {policy:9} {phase}: makespan {ms / 1000:6.2f} s ({ms / makespan_off[phase]:.2f}x off), CPU "
              f"{spent / 1000:6.2f} s ({spent / needed[phase]:.2f}x off; server {server / 1000:.2f} s), {groups:.0f} results, "
              f"{v['replicated']} replicated, {v['spot_checked']} spot-checked")

    c = cluster(build, "liar", "adaptive", liar=["--lie", "0.1", "--lie-mode", "sign"])
    try:
        ms, result = submit(c, dict(doc, name="liar"))
        liar = next(w for w in c.status()["workers"] if w["name"] == "w0")
        wrong_values = 0
        for oid, want in baseline.items():
            got, right = scalar(result["outputs"][oid]["data"]), scalar(want["data"])
            if abs(got - right) > 1e-3 * max(1.0, abs(right)):
                wrong_values += 1
        print(f"one liar (--lie 0.1 --lie-mode sign) among 4, adaptive: makespan {ms / 1000:.2f} s; the liar computed "
              f"{liar['groups_done']} groups, {liar['wrong']} proven wrong, quarantined: {liar['quarantined']}; "
              f"{metric(c, 'corvid_rechecked_total'):.0f} of its unreplicated deliveries rechecked, "
              f"{metric(c, 'corvid_wrong_delivered_total'):.0f} found wrong; wrong values reaching the developer: "
              f"{wrong_values} of {n}")
    finally:
        c.stop()


if __name__ == "__main__":
    main()
