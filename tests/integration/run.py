#!/usr/bin/python3
"""Integration tests on loopback: real corvid-server, real corvid-worker processes, the corvid CLI
and a libcorvid program. Usage: run.py CASE --server-bin B --worker-bin B --corvid-bin B
--snippet-bin B. Each case prints what it checked and exits non-zero on failure."""

import argparse
import json
import os
import re
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import numpy as np

from harness import Cluster, TestFailure, check, finish, free_port, wait_until

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "postgres"))
from pg_cluster import PgCluster  # noqa: E402  (tests/postgres: a throw-away PostgreSQL cluster)

HERE = os.path.dirname(os.path.abspath(__file__))
GRAPHS = os.path.join(HERE, "graphs")

# ---- NumPy reference for graph files ----

NUMPY_OPS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "maximum": np.maximum,
    "exp": np.exp,
    "tanh": np.tanh,
    "neg": np.negative,
    "relu": lambda a: np.maximum(a, 0),
    "sigmoid": lambda a: 1 / (1 + np.exp(-a)),
    "matmul": np.matmul,
    "transpose": lambda a: a.T,
}


def numpy_values(doc):
    """Every op's value computed by NumPy (float32 in, as the graph files here use)."""
    values = {}
    for op in doc["ops"]:
        name, ins = op["op"], [values[i] for i in op.get("inputs", [])]
        params = op.get("params", {})
        if name == "tensor":
            values[op["id"]] = np.array(op["value"], dtype=np.float32)
        elif name in ("sum", "mean"):
            fn = np.sum if name == "sum" else np.mean
            values[op["id"]] = fn(ins[0], axis=params.get("axis"), keepdims=params.get("keepdims", False))
        else:
            values[op["id"]] = NUMPY_OPS[name](*ins)
    return values


def check_outputs(result, doc, what):
    """Checks a `corvid submit --wait --json` result against NumPy."""
    check(result["status"] == "computed", f"{what}: status {result['status']}, failed {result.get('failed')}")
    check(result["failed"] == [], f"{what}: failed list {result['failed']}")
    expected = numpy_values(doc)
    for oid in doc["outputs"]:
        got = result["outputs"].get(oid)
        check(got is not None, f"{what}: output {oid} missing")
        want = expected[oid]
        check(list(got["shape"]) == list(want.shape), f"{what}: {oid} shape {got['shape']}, NumPy {list(want.shape)}")
        data = np.array(got["data"], dtype=np.float64).reshape(want.shape)
        check(np.allclose(data, want, rtol=1e-4, atol=1e-4),
              f"{what}: {oid} = {data.ravel()[:8]} but NumPy says {want.ravel()[:8]}")


def random_graph(rng, name, n_ops=12, size=8):
    """A random graph file of float32 ops with known NumPy values."""
    ops, shapes = [], {}

    def new_id():
        return f"n{len(ops)}"

    for _ in range(3):
        oid = new_id()
        value = [[round(rng.uniform(-1, 1), 3) for _ in range(size)] for _ in range(size)]
        ops.append({"id": oid, "op": "tensor", "value": value, "dtype": "float32"})
        shapes[oid] = (size, size)
    while len(ops) < n_ops:
        oid = new_id()
        square = [k for k, s in shapes.items() if s == (size, size)]
        kind = rng.choice(["add", "sub", "mul", "maximum", "tanh", "sigmoid", "relu", "neg", "matmul", "transpose"])
        if kind in ("add", "sub", "mul", "maximum", "matmul"):
            a, b = rng.choice(square), rng.choice(square)
            ops.append({"id": oid, "op": kind, "inputs": [a, b]})
        else:
            ops.append({"id": oid, "op": kind, "inputs": [rng.choice(square)]})
        shapes[oid] = (size, size)
    last = ops[-1]["id"]
    ops.append({"id": "total", "op": "sum", "inputs": [last], "params": {"axis": 1, "keepdims": False}})
    return {"name": name, "ops": ops, "outputs": [last, "total", ops[5]["id"]]}


def chain_graph(name, length, size=64):
    """A chain of matmuls and tanh (values stay bounded) long enough to interrupt midway."""
    rng = np.random.default_rng(length)
    w = (rng.standard_normal((size, size)) / np.sqrt(size)).astype(np.float32).round(4).tolist()
    x = rng.standard_normal((size, size)).astype(np.float32).round(4).tolist()
    ops = [{"id": "w", "op": "tensor", "value": w, "dtype": "float32"},
           {"id": "x0", "op": "tensor", "value": x, "dtype": "float32"}]
    for i in range(1, length + 1):
        ops.append({"id": f"m{i}", "op": "matmul", "inputs": [f"x{i - 1}", "w"]})
        ops.append({"id": f"x{i}", "op": "tanh", "inputs": [f"m{i}"]})
    ops.append({"id": "total", "op": "sum", "inputs": [f"x{length}"], "params": {"axis": 0}})
    return {"name": name, "ops": ops, "outputs": [f"x{length}", "total"]}


def submit_json(cluster, path, timeout=120):
    code, out, err = cluster.corvid("submit", path, "--wait", "--json", timeout=timeout)
    check(out.strip(), f"corvid submit printed nothing (exit {code}); stderr: {err}")
    return code, json.loads(out), err

def submit_all_and_check(c, docs, timeout=120):
    """Submits every graph at once with `corvid submit --wait --json`; each must compute NumPy's values."""
    procs = [(doc, c.corvid_background("submit", c.graph_file(f"{doc['name']}.json", doc), "--wait", "--json"))
             for doc in docs]
    for doc, p in procs:
        code, out, err = finish(p, timeout, f"graph {doc['name']}")
        check(code == 0, f"{doc['name']}: exit {code}, stderr {err}")
        check_outputs(json.loads(out), doc, doc["name"])

# ---- cases ----


def case_readme_numpy(c):
    c.start_server()
    c.start_worker("w1")
    c.start_worker("w2")
    c.wait_workers_ready(["w1", "w2"])
    path = os.path.join(GRAPHS, "readme_example.json")
    code, result, _ = submit_json(c, path)
    doc = json.load(open(path))
    check(code == 0, f"exit code {code} for a graph that computed")
    check(set(result) == {"graph_id", "status", "outputs", "failed", "verification"}, f"--json keys {sorted(result)}")
    v = result["verification"]
    check(v["policy"] == "adaptive" and v["replicated"] + v["spot_checked"] > 0 and v["wrong"] == 0,
          f"under the default policy new workers' groups are verified: {v}")
    check(result["outputs"]["c"]["dtype"] == "float32", f"c dtype {result['outputs']['c']['dtype']}")
    check(result["outputs"]["c"]["data"] == [6, 8, 8, 10], f"c data {result['outputs']['c']['data']} (row-major)")
    check_outputs(result, doc, "README example")
    # Without --json: progress while waiting and the values for people.
    code, out, err = c.corvid("submit", path, "--wait")
    check(code == 0, f"plain --wait exit {code}: {err}")
    check("ops computed" in err, f"no progress line on stderr: {err!r}")
    check("c = float32(2, 2) [[6, 8], [8, 10]]" in out, f"plain output: {out!r}")


def case_many_graphs(c):
    c.start_server()
    for i in range(3):
        c.start_worker(f"w{i}")
    c.wait_workers_ready(["w0", "w1", "w2"])
    rng = random.Random(1234)
    docs = [random_graph(rng, f"g{i}", n_ops=rng.randint(8, 30)) for i in range(12)]
    submit_all_and_check(c, docs)
    done = {w["name"]: w.get("groups_done", 0) for w in c.status()["workers"]}
    check(sum(1 for n in done.values() if n > 0) >= 2, f"work was not spread over the workers: {done}")
    print("groups per worker:", done)


def case_verify_replicate(c):
    """--verify replicate with a liar (--lie 1 --lie-mode perturb) and two honest workers: every value
    of many random graphs is right, and the liar's wrong results are counted against it."""
    c.start_server("--verify", "replicate")
    c.start_worker("liar", 1, "--lie", "1", "--lie-mode", "perturb")
    c.start_worker("h1")
    c.start_worker("h2")
    c.wait_workers_ready(["liar", "h1", "h2"])
    rng = random.Random(4321)
    docs = [random_graph(rng, f"v{i}", n_ops=rng.randint(8, 30)) for i in range(10)]
    submit_all_and_check(c, docs, 180)
    status = c.status()
    liar = c.worker_status("liar")
    check(liar is not None and liar.get("groups_done", 0) > 0, f"the liar computed nothing: {liar}")
    check(liar["failures"] > 0, f"the liar's wrong results were not counted: {liar}")
    wrong = [e for e in status["events"] if e["kind"] == "wrong"]
    check(wrong, "no 'wrong' event on /status")
    check(all(c.worker_status(n)["failures"] == 0 for n in ("h1", "h2")), "an honest worker was blamed")
    print("liar:", liar["groups_done"], "groups,", liar["failures"], "failures;", len(wrong), "wrong events")


def case_verify_per_graph(c):
    """A server under --verify off and one lying worker: a graph file with "verify": "replicate" gets
    right values (the server's own kernel gives the second opinion), the same graph without it the
    liar's values."""
    c.start_server("--verify", "off")
    c.start_worker("liar", 1, "--lie", "1", "--lie-mode", "sign")
    c.wait_workers_ready(["liar"])
    doc = random_graph(random.Random(77), "tight", n_ops=10)
    doc["verify"] = "replicate"
    code, result, err = submit_json(c, c.graph_file("tight.json", doc))
    check(code == 0, f"exit {code}: {err}")
    check_outputs(result, doc, "verify: replicate on a server under off")
    check(c.worker_status("liar")["failures"] > 0, "the liar was not caught")
    doc["verify"] = "adaptive"  # the liar is new, so untrusted: its groups are replicated too
    code, result, err = submit_json(c, c.graph_file("adaptive.json", doc))
    check(code == 0, f"exit {code}: {err}")
    check_outputs(result, doc, "verify: adaptive on a server under off")
    del doc["verify"]
    code, result, err = submit_json(c, c.graph_file("loose.json", doc))
    try:
        check_outputs(result, doc, "")
    except TestFailure:
        return  # under off the liar's values are believed: the reason for --verify
    raise TestFailure("the liar's values were right: the test proves nothing")


def metric_value(c, name):
    """A counter of /metrics (without labels)."""
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{c.port}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise TestFailure(f"no metric {name}")


def check_quarantined(c, name, what):
    """The named worker is shown quarantined on /api/status, with the evidence."""
    w = wait_until(lambda: (c.worker_status(name) or {}).get("quarantined") and c.worker_status(name), 30,
                   f"{what} to be quarantined")
    ev = w["evidence"]
    check(w["trust"] == 0 and ev and ev["graph"] > 0 and ev["op"] and ev["largest_difference"] > 0,
          f"{what}: quarantined without evidence: {w}")
    return w


def case_verify_adaptive_liar(c):
    """The default policy (adaptive) with 1 liar (--lie 1) and 3 honest workers over many random
    graphs: every value is right, the liar is quarantined with the evidence, no honest worker is
    blamed, and each graph's --json carries its verification summary."""
    c.start_server()
    c.start_worker("liar", 1, "--lie", "1", "--lie-mode", "perturb")
    for n in ("h1", "h2", "h3"):
        c.start_worker(n)
    c.wait_workers_ready(["liar", "h1", "h2", "h3"])
    rng = random.Random(1010)
    docs = [random_graph(rng, f"a{i}", n_ops=rng.randint(8, 30)) for i in range(12)]
    submit_all_and_check(c, docs, 180)
    liar = check_quarantined(c, "liar", "the liar")
    for n in ("h1", "h2", "h3"):
        check(c.worker_status(n)["wrong"] == 0 and not c.worker_status(n)["quarantined"], f"{n} was blamed")
    status = c.status()
    check(any(q["evidence"]["graph"] == liar["evidence"]["graph"] for q in status["quarantined"]),
          f"the quarantine list misses the liar: {status['quarantined']}")
    check(metric_value(c, "corvid_quarantines_total") == 1, "corvid_quarantines_total is not 1")
    code, result, err = submit_json(c, c.graph_file("after.json", docs[0]))
    check(code == 0, f"exit {code}: {err}")
    check(result["verification"]["policy"] == "adaptive", f"verification summary {result.get('verification')}")
    print("liar:", liar["groups_done"], "groups,", liar["wrong"], "wrong, evidence", liar["evidence"]["detail"])


def case_verify_colluders(c):
    """Two liars returning identical wrong values (--lie-mode perturb) and two honest workers, with
    spot checks on every accepted group: the liars agree with each other, yet every value is right
    and both are quarantined."""
    c.start_server("--spot-check-rate", "1", "--spot-check-budget", "1")
    for n in ("liar1", "liar2"):
        c.start_worker(n, 1, "--lie", "1", "--lie-mode", "perturb")
    for n in ("h1", "h2"):
        c.start_worker(n)
    c.wait_workers_ready(["liar1", "liar2", "h1", "h2"])
    rng = random.Random(2020)
    docs = [random_graph(rng, f"c{i}", n_ops=rng.randint(8, 24)) for i in range(10)]
    submit_all_and_check(c, docs, 180)
    for n in ("liar1", "liar2"):
        check_quarantined(c, n, n)
    print("both colluders quarantined; spot checks:",
          sum(g["verification"]["spot_checked"] for g in c.status()["graphs"]))


def case_verify_late_liar(c):
    """A liar honest for its first 50 groups, then lying, among two honest workers: it is
    quarantined, and what it delivered alone (its last 128 such groups) is verified again by
    the server's kernel (corvid_rechecked_total), wrong ones replaced."""
    c.start_server()
    c.start_worker("turncoat", 1, "--lie", "1", "--lie-after", "50")
    for n in ("h1", "h2"):
        c.start_worker(n)
    c.wait_workers_ready(["turncoat", "h1", "h2"])
    rng = random.Random(3030)
    for batch in range(8):  # until it has lied and been caught
        docs = [random_graph(rng, f"l{batch}-{i}", n_ops=30) for i in range(25)]
        procs = [(doc, c.corvid_background("submit", c.graph_file(f"{doc['name']}.json", doc), "--wait", "--json"))
                 for doc in docs]
        for doc, p in procs:
            code, out, err = finish(p, 180, f"graph {doc['name']}")
            check(code == 0, f"{doc['name']}: exit {code}, stderr {err}")
        w = c.worker_status("turncoat")
        if w["quarantined"]:
            break
    check(w["groups_done"] > 50, f"the turncoat computed only {w['groups_done']} groups")
    check_quarantined(c, "turncoat", "the turncoat")
    rechecked = metric_value(c, "corvid_rechecked_total")
    wrong_delivered = metric_value(c, "corvid_wrong_delivered_total")
    check(wrong_delivered <= rechecked, "more wrong deliveries than rechecks")
    print(f"turncoat quarantined after {w['groups_done']} groups; {rechecked:.0f} rechecked, "
          f"{wrong_delivered:.0f} found wrong and replaced")


def case_verify_reconnect(c):
    """A quarantined liar that reconnects is a new identity: untrusted (trust 0), its groups
    replicated, so it is caught again and every value stays right. A worker with the operator's
    worker token is trusted (trust 1); a wrong token is refused."""
    c.start_server()
    c.start_worker("liar", 1, "--lie", "1")
    c.start_worker("h1")
    c.wait_workers_ready(["liar", "h1"])
    rng = random.Random(4040)
    submit_all_and_check(c, [random_graph(rng, f"r{i}", n_ops=16) for i in range(4)], 120)
    first = check_quarantined(c, "liar", "the liar")
    c.workers["liar"].kill()
    c.workers["liar"].wait()
    c.start_worker("liar", 1, "--lie", "1")
    wait_until(lambda: (c.worker_status("liar") or {}).get("id", first["id"]) != first["id"], 30, "the liar to reconnect")
    again = c.worker_status("liar")
    check(again["trust"] == 0 and not again["quarantined"], f"a reconnect is a new untrusted identity: {again}")
    submit_all_and_check(c, [random_graph(rng, f"s{i}", n_ops=16) for i in range(4)], 120)
    check_quarantined(c, "liar", "the reconnected liar")
    check(len(c.status()["quarantined"]) == 2, f"two quarantined identities expected: {c.status()['quarantined']}")
    token = os.path.join(c.data_dir, "worker-token")
    check(oct(os.stat(token).st_mode & 0o777) == "0o600", "worker-token is not mode 0600")
    c.start_worker("trusted", 1, "--worker-token", token)
    c.wait_workers_ready(["trusted"])
    check(c.worker_status("trusted")["trust"] == 1, f"a worker token's worker is trusted: {c.worker_status('trusted')}")
    bad = os.path.join(c.dir, "bad-token")
    with open(bad, "w") as f:
        f.write("not-the-token\n")
    c.start_worker("forger", 1, "--worker-token", bad)
    time.sleep(1.5)
    check(c.worker_status("forger") is None, "a wrong worker token was accepted")
    print("reconnect caught again; token worker trusted; forged token refused")


def case_verify_server_restart(c):
    """The server killed while groups are being verified (a liar among two slowed honest workers)
    and restarted: the graph completes with every value right, nothing lost."""
    c.start_server()
    c.start_worker("liar", 20, "--lie", "1")
    c.start_worker("w1", slowdown=20)
    c.start_worker("w2", slowdown=20)
    c.wait_workers_ready(["liar", "w1", "w2"])
    doc = chain_graph("vrestart", 30, size=128)
    p = c.corvid_background("submit", c.graph_file("chain.json", doc), "--wait", "--json")

    def verifying():
        graphs = c.status().get("graphs", [])
        return graphs and graphs[0]["counts"].get("computed", 0) > 6 and graphs[0]

    graph = wait_until(verifying, 60, "the graph to be partly computed")
    check(p.poll() is None, "corvid submit finished before the server was killed; make the graph longer")
    c.kill_server()
    print(f"killed the server with {graph['counts']} of {graph['total']} ops")
    time.sleep(0.5)
    c.start_server()
    code, out, err = finish(p, 150, "corvid submit --wait across a server restart")
    check(code == 0, f"exit {code}: {err}")
    check_outputs(json.loads(out), doc, "verified graph across a restart")


def held_groups(c, name):
    w = c.worker_status(name)
    return w and w.get("in_flight", 0) > 0


def groups_done(c, name):
    for w in c.status().get("workers", []):
        if w.get("name") == name:
            return w.get("groups_done", 0)
    return 0


def case_worker_killed(c):
    c.start_server()
    # 256x256 matmuls slowed 1000x: each group takes seconds on this worker.
    c.start_worker("doomed", slowdown=1000)
    c.wait_workers_ready(["doomed"])
    doc = chain_graph("killed", 3, size=256)
    p = c.corvid_background("submit", c.graph_file("chain.json", doc), "--wait", "--json")
    wait_until(lambda: held_groups(c, "doomed"), 30, "the slow worker to hold a group")
    check(groups_done(c, "doomed") == 0, "the slow worker finished a group before it could be killed")
    c.signal_worker("doomed", signal.SIGKILL)
    c.start_worker("rescuer")
    code, out, err = finish(p, 90, "corvid submit after a worker was killed")
    check(code == 0, f"exit {code}: {err}")
    check_outputs(json.loads(out), doc, "graph of a killed worker")
    check(groups_done(c, "rescuer") > 0, "the rescuer computed nothing")


def case_worker_stalled(c):
    c.start_server()
    # A group of a few seconds on this worker, so its deadline is a few seconds too.
    c.start_worker("staller", slowdown=1000)
    c.wait_workers_ready(["staller"])
    doc = chain_graph("stalled", 3, size=128)
    p = c.corvid_background("submit", c.graph_file("chain.json", doc), "--wait", "--json")
    wait_until(lambda: held_groups(c, "staller"), 30, "the slow worker to hold a group")
    c.signal_worker("staller", signal.SIGSTOP)
    check(groups_done(c, "staller") == 0, "the slow worker finished a group before it was stopped")
    c.start_worker("rescuer")
    code, out, err = finish(p, 120, "corvid submit while a worker stalls")
    check(code == 0, f"exit {code}: {err}")
    check_outputs(json.loads(out), doc, "graph of a stalled worker")
    check(groups_done(c, "rescuer") > 0, "the rescuer computed nothing")
    check(groups_done(c, "staller") == 0, "the stopped worker was credited with a group")


def case_server_restart(c):
    c.start_server()
    c.start_worker("w1", slowdown=20)
    c.start_worker("w2", slowdown=20)
    c.wait_workers_ready(["w1", "w2"])
    doc = chain_graph("restart", 160, size=128)
    p = c.corvid_background("submit", c.graph_file("chain.json", doc), "--wait", "--json")

    def partly_computed():
        graphs = c.status().get("graphs", [])
        return graphs and graphs[0]["counts"].get("computed", 0) > 10 and graphs[0]

    graph = wait_until(partly_computed, 60, "the graph to be partly computed")
    check(p.poll() is None, "corvid submit finished before the server was killed; make the graph longer")
    c.kill_server()
    print(f"killed the server with {graph['counts']} of {graph['total']} ops")
    check(graph["counts"]["computed"] < graph["total"], "the graph was complete before the kill")
    time.sleep(0.5)
    c.start_server()
    code, out, err = finish(p, 150, "corvid submit --wait across a server restart")
    check(code == 0, f"exit {code}: {err}")
    check_outputs(json.loads(out), doc, "graph across a restart")
    # A worker whose backoff outlasted the rest of the graph may still be on its way (up to 7.5 s).
    c.wait_workers_ready(["w1", "w2"], timeout=20)


def case_two_developers(c):
    c.start_server()
    c.start_worker("w1")
    c.start_worker("w2")
    c.wait_workers_ready(["w1", "w2"])
    rng = random.Random(99)
    a, b = random_graph(rng, "alice", 20), random_graph(rng, "bob", 25)
    pa = c.corvid_background("submit", c.graph_file("a.json", a), "--wait", "--json")
    pb = c.corvid_background("submit", c.graph_file("b.json", b), "--wait", "--json")
    snippet = c.snippet_background()
    for doc, p in ((a, pa), (b, pb)):
        code, out, err = finish(p, 90, doc["name"])
        check(code == 0, f"{doc['name']}: exit {code}: {err}")
        check_outputs(json.loads(out), doc, doc["name"])
    code, out, err = finish(snippet, 90, "the libcorvid program")
    check(code == 0, f"libcorvid program failed (exit {code}):\n{out}\n{err}")


def case_op_failure(c):
    c.start_server()
    c.start_worker("w1")
    c.wait_workers_ready(["w1"])
    doc = {"name": "singular", "ops": [
        {"id": "m", "op": "tensor", "value": [[1, 2], [2, 4]], "dtype": "float64"},
        {"id": "good", "op": "transpose", "inputs": ["m"]},
        {"id": "bad", "op": "inv", "inputs": ["m"]},
        {"id": "after", "op": "add", "inputs": ["bad", "m"]}],
        "outputs": ["good", "after"]}
    code, result, err = submit_json(c, c.graph_file("singular.json", doc))
    check(code == 1, f"exit code {code} with a failed op")
    check(result["status"] == "failed", f"status {result['status']}")
    check(result["outputs"]["good"]["data"] == [1, 2, 2, 4], f"good = {result['outputs'].get('good')}")
    check("after" not in result["outputs"], "a failed output has a value")
    failed = {f["id"]: f for f in result["failed"]}
    check(set(failed) == {"bad", "after"}, f"failed ops {result['failed']}")
    check(failed["bad"]["op"] == "inv" and "singular" in failed["bad"]["error"], f"bad: {failed['bad']}")
    check("input op 'bad' failed" in failed["after"]["error"], f"after: {failed['after']}")
    code, out, err = c.corvid("submit", c.graph_file("singular.json", doc), "--wait")
    check(code == 1 and "failed: op 'bad' (inv): inv: matrix is singular" in out, f"plain output {out!r}")


BAD_FILES = {
    "bad_json.json": "invalid JSON: parse error at line 1",
    "bad_unknown_op.json": "op 'b': unknown op 'frobnicate'",
    "bad_unknown_input.json": "op 'b': unknown input id 'zz'",
    "bad_cycle.json": "op 'b': is part of a cycle: b -> c -> b",
    "bad_arity.json": "op 'b': add: expects 2 input(s), got 1",
    "bad_shapes.json": "op 'c': add: shapes (2, 2) and (3,) cannot be broadcast together",
    "bad_param_name.json": "op 'b': sum: unknown param 'axsi' (accepted: axis, keepdims)",
    "bad_param_range.json": "op 'b': sum: param 'axis' is out of range: 18446744073709551615 does not fit in a "
                            "signed 64-bit integer",
    "bad_bincount_minlength.json": "op 'b': bincount: an int32 output of 500000000 bins (param 'minlength') would "
                                   "take 1.9 GiB; a tensor may take at most 512 MiB",
}


def case_bad_files(c):
    c.start_server()
    for name, message in BAD_FILES.items():
        code, out, err = c.corvid("submit", os.path.join(GRAPHS, name), "--wait", "--json")
        check(code != 0, f"{name}: exit code 0")
        check(message in err, f"{name}: expected {message!r} in the error, got {err!r}")
        check(len(err.strip().splitlines()) == 1, f"{name}: error is not one line: {err!r}")
        print(f"{name}: {err.strip()}")
    check(c.status()["graphs"] == [], "a bad file created a graph")


def case_unreachable(c):
    # Nothing listens on the cluster's port: the CLI must say so in one line.
    env = {"CORVID_TOKEN": "none"}
    p = subprocess.run([c.bins.corvid, "submit", os.path.join(GRAPHS, "readme_example.json"), "--wait",
                        "--server", c.url], env={**os.environ, **env}, capture_output=True, text=True, timeout=30)
    check(p.returncode == 3, f"exit code {p.returncode}")
    lines = p.stderr.strip().splitlines()
    check(len(lines) == 1, f"not one line: {p.stderr!r}")
    check(f"cannot reach the Corvid server at {c.url}" in lines[0], f"message: {lines[0]!r}")
    print(lines[0])


def case_library(c):
    c.start_server()
    c.start_worker("w1")
    c.start_worker("w2")
    c.wait_workers_ready(["w1", "w2"])
    code, out, err = finish(c.snippet_background(), 120, "the libcorvid program")
    print(out)
    check(code == 0, f"libcorvid program failed (exit {code}):\n{err}")


def matmul_sum_job(name, w, slices, sum_params=None):
    """A `corvid map` file: w shared, each slice x giving sum(x @ w) (sum_params: the sum's params)."""
    total = {"id": "s", "op": "sum", "inputs": ["y"]}
    if sum_params is not None:
        total["params"] = sum_params
    return {"name": name,
            "shared": [{"id": "w", "op": "tensor", "value": w.tolist(), "dtype": "float32"}],
            "template": {"inputs": ["x"], "dtypes": {"x": "float32"},
                         "ops": [{"id": "y", "op": "matmul", "inputs": ["x", "w"]}, total], "output": "s"},
            "slices": [x.tolist() for x in slices]}


def case_map_cli(c):
    c.start_server()
    c.start_worker("w1")
    c.start_worker("w2")
    c.wait_workers_ready(["w1", "w2"])
    rng = np.random.default_rng(5)
    w = rng.standard_normal((6, 3)).astype(np.float32).round(3)
    slices = [rng.standard_normal((4, 6)).astype(np.float32).round(3) for _ in range(20)]
    doc = matmul_sum_job("map-cli", w, slices, {"axis": 1})
    code, out, err = c.corvid("map", c.graph_file("map.json", doc), "--json", timeout=120)
    check(code == 0, f"corvid map exit {code}: {err}")
    events = [json.loads(line) for line in out.splitlines()]
    kinds = [e["event"] for e in events]
    check(kinds[0] == "posted" and events[0]["slices"] == 20, f"first event {events[0]}")
    check(kinds[-1] == "done" and events[-1]["status"] == "computed", f"last event {events[-1]}")
    statuses = [e for e in events if e["event"] == "status"]
    check(statuses, "no status event")
    for s in statuses:
        check(s["computed"] + s["failed"] <= s["distributed"] <= 20, f"status event {s}")
    check(statuses[-1]["distributed"] == statuses[-1]["computed"] == 20 and statuses[-1]["ops_running"] == 0,
          f"last status event {statuses[-1]}")
    results = {e["slice"]: e for e in events if e["event"] == "result"}
    check(sorted(results) == list(range(20)), f"results for slices {sorted(results)}")
    for i, s in enumerate(slices):
        got = np.array(results[i]["data"]).reshape(results[i]["shape"])
        check(np.allclose(got, (s @ w).sum(axis=1), rtol=1e-4, atol=1e-4), f"slice {i}: {got} vs NumPy")
    # A slice that fails deterministically is reported with its error; the others compute.
    bad = dict(doc, name="map-fail",
               template={"inputs": ["x"], "ops": [{"id": "i", "op": "inv", "inputs": ["x"]}], "output": "i"},
               shared=[], slices=[[[1, 2], [3, 4]], [[1, 2], [2, 4]], [[2, 0], [0, 2]]])
    bad["template"]["dtypes"] = {"x": "float64"}
    code, out, err = c.corvid("map", c.graph_file("map-fail.json", bad), "--json", timeout=120)
    check(code == 1, f"corvid map with a failing slice exit {code}")
    events = [json.loads(line) for line in out.splitlines()]
    errors = [e for e in events if e["event"] == "error"]
    check(len(errors) == 1 and errors[0]["slice"] == 1 and "singular" in errors[0]["error"], f"errors {errors}")
    check(sum(e["event"] == "result" for e in events) == 2, f"events {events}")
    # Progress bar mode.
    code, out, err = c.corvid("map", c.graph_file("map.json", doc), timeout=120)
    check(code == 0 and "slices computed" in err and out.count("slice ") == 20, f"bar mode: {out!r} {err!r}")


def case_map_max_time(c):
    c.start_server()
    # A quarter to one second per slice on this worker, depending on the machine: 32 slices cannot
    # all finish within 3 s (8 did once, in a fresh clone on a quick core).
    c.start_worker("slow", slowdown=1000)
    c.wait_workers_ready(["slow"])
    rng = np.random.default_rng(8)
    w = (rng.standard_normal((256, 256)) / 16).astype(np.float32).round(3)
    slices = [rng.standard_normal((256, 256)).astype(np.float32).round(3) for _ in range(32)]
    doc = matmul_sum_job("map-max-time", w, slices)
    code, out, err = c.corvid("map", c.graph_file("map.json", doc), "--json", "--max-time", "3", timeout=60)
    events = [json.loads(line) for line in out.splitlines()]
    check(code == 1, f"exit {code} for a job stopped by --max-time: {err}")
    check(events[-1]["event"] == "done" and events[-1]["status"] == "timed_out", f"last event {events[-1]}")
    results = [e for e in events if e["event"] == "result"]
    check(len(results) < len(slices), "every slice finished within --max-time; make the slices slower")
    for r in results:
        want = float((slices[r["slice"]] @ w).sum())
        check(abs(r["data"][0] - want) <= 1e-3 * max(1.0, abs(want)), f"slice {r['slice']}: {r['data']} vs {want}")
    graph = c.status()["graphs"][0]
    check(graph["counts"]["cancelled"] > 0, f"the unfinished slices were not cancelled: {graph['counts']}")
    check(graph["counts"]["pending"] + graph["counts"]["running"] == 0,
          f"ops of unfinished slices still pending or running: {graph['counts']}")
    print(f"kept {len(results)} results; graph counts {graph['counts']}")


def case_map_worker_killed(c):
    c.start_server()
    c.start_worker("doomed", slowdown=1000)
    c.wait_workers_ready(["doomed"])
    rng = np.random.default_rng(9)
    w = (rng.standard_normal((128, 128)) / 12).astype(np.float32).round(3)
    slices = [rng.standard_normal((128, 128)).astype(np.float32).round(3) for _ in range(4)]
    doc = matmul_sum_job("map-killed", w, slices, {"axis": 0})
    p = c.corvid_background("map", c.graph_file("map.json", doc), "--json")
    wait_until(lambda: held_groups(c, "doomed"), 30, "the slow worker to hold a slice")
    check(groups_done(c, "doomed") == 0, "the slow worker finished a slice before it could be killed")
    c.signal_worker("doomed", signal.SIGKILL)
    c.start_worker("rescuer")
    code, out, err = finish(p, 90, "corvid map after a worker was killed")
    check(code == 0, f"corvid map exit {code}: {err}")
    events = [json.loads(line) for line in out.splitlines()]
    results = {e["slice"]: e for e in events if e["event"] == "result"}
    check(sorted(results) == [0, 1, 2, 3], f"results for slices {sorted(results)}")
    for i, x in enumerate(slices):
        check(np.allclose(results[i]["data"], (x @ w).sum(axis=0), rtol=1e-4, atol=1e-3), f"slice {i} differs")


def case_map_server_restart(c):
    c.start_server()
    c.start_worker("w1", slowdown=200)
    c.start_worker("w2", slowdown=200)
    c.wait_workers_ready(["w1", "w2"])
    rng = np.random.default_rng(10)
    w = (rng.standard_normal((128, 128)) / 12).astype(np.float32).round(3)
    slices = [rng.standard_normal((128, 128)).astype(np.float32).round(3) for _ in range(16)]
    doc = matmul_sum_job("map-restart", w, slices, {"axis": 0})
    p = c.corvid_background("map", c.graph_file("map.json", doc), "--json")

    def partly_computed():
        graphs = c.status().get("graphs", [])
        return graphs and 0 < graphs[0]["counts"].get("computed", 0) - 17 and graphs[0]

    graph = wait_until(partly_computed, 60, "some slices to be computed")
    check(p.poll() is None, "corvid map finished before the server was killed; make the slices slower")
    c.kill_server()
    print(f"killed the server with {graph['counts']} of {graph['total']} ops")
    time.sleep(0.5)
    c.start_server()
    code, out, err = finish(p, 150, "corvid map across a server restart")
    check(code == 0, f"corvid map exit {code}: {err}")
    events = [json.loads(line) for line in out.splitlines()]
    slices_seen = [e["slice"] for e in events if e["event"] == "result"]
    check(sorted(slices_seen) == list(range(16)), f"each slice's result exactly once: {sorted(slices_seen)}")
    results = {e["slice"]: e for e in events if e["event"] == "result"}
    for i, x in enumerate(slices):
        check(np.allclose(results[i]["data"], (x @ w).sum(axis=0), rtol=1e-4, atol=1e-3), f"slice {i} differs")


def case_map_interrupt(c):
    c.start_server()
    c.start_worker("slow", slowdown=1000)
    c.wait_workers_ready(["slow"])
    rng = np.random.default_rng(11)
    w = (rng.standard_normal((256, 256)) / 16).astype(np.float32).round(3)
    doc = matmul_sum_job("map-interrupt", w, [rng.standard_normal((256, 256)).astype(np.float32).round(3)
                                              for _ in range(6)])
    p = c.corvid_background("map", c.graph_file("map.json", doc), "--json")
    wait_until(lambda: held_groups(c, "slow"), 30, "the worker to hold a slice")
    p.send_signal(signal.SIGINT)
    code, out, err = finish(p, 30, "corvid map after SIGINT")
    events = [json.loads(line) for line in out.splitlines()]
    check(code == 1, f"exit {code} after SIGINT: {err}")
    check(events[-1]["event"] == "done" and events[-1]["status"] == "cancelled", f"last event {events[-1]}")
    graph = c.status()["graphs"][0]
    check(graph["counts"]["pending"] + graph["counts"]["running"] == 0 and graph["counts"]["cancelled"] > 0,
          f"the job's slices were not cancelled: {graph['counts']}")


def case_worker_sigterm(c):
    c.start_server()
    c.start_worker("leaver", slowdown=1000)
    c.wait_workers_ready(["leaver"])
    doc = chain_graph("sigterm", 3, size=256)
    p = c.corvid_background("submit", c.graph_file("chain.json", doc), "--wait", "--json")
    wait_until(lambda: held_groups(c, "leaver"), 30, "the slow worker to hold a group")
    c.signal_worker("leaver", signal.SIGTERM)
    try:
        code = c.workers["leaver"].wait(timeout=20)
    except subprocess.TimeoutExpired:
        raise TestFailure("corvid-worker did not exit after SIGTERM")
    check(code == 0, f"corvid-worker exit code {code} after SIGTERM")
    c.start_worker("rescuer")
    code, out, err = finish(p, 90, "corvid submit after a worker left")
    check(code == 0, f"exit {code}: {err}")
    check_outputs(json.loads(out), doc, "graph of a worker that left")
    check(groups_done(c, "leaver") == 0 and groups_done(c, "rescuer") > 0, "work was not handed to the rescuer")


def case_worker_rate_limited(c):
    """Workers refused with 429 (too many new connections from one address) wait as long as the
    server's Retry-After asks, then all get in."""
    c.start_server("--max-worker-connects-per-s", "1", "--worker-connect-burst", "1")
    names = ["r1", "r2", "r3"]
    for n in names:
        c.start_worker(n)
    c.wait_workers_ready(names, timeout=60)
    refusals = []
    for n in names:
        with open(os.path.join(c.dir, f"worker-{n}.log")) as f:
            refusals += [line for line in f if "(HTTP 429)" in line]
    check(refusals, "no worker was refused with 429: the limit did not apply")
    for line in refusals:
        delay = int(re.search(r"retrying in (\d+) ms", line).group(1))
        check(delay >= 1000, f"a worker retried {delay} ms after a 429 that asked for 1 s: {line.strip()}")


def grad_graph(rng, name, n_ops=10, size=4):
    """A random float64 graph with fan-out, its loss, and a grad op for each of its three inputs."""
    ops, shapes = [], {}
    for i in range(3):
        value = [[rng.uniform(-1, 1) for _ in range(size)] for _ in range(size)]
        ops.append({"id": f"x{i}", "op": "tensor", "value": value, "dtype": "float64"})
        shapes[f"x{i}"] = (size, size)
    for k in range(n_ops):
        oid = f"v{k}"
        square = [i for i, s in shapes.items() if s == (size, size)]
        kind = rng.choice(["add", "sub", "mul", "maximum", "tanh", "sigmoid", "neg", "matmul", "transpose", "mean"])
        if kind in ("add", "sub", "mul", "maximum"):
            a, b = rng.choice(list(shapes)), rng.choice(list(shapes))
            ops.append({"id": oid, "op": kind, "inputs": [a, b]})
            shapes[oid] = np.broadcast_shapes(shapes[a], shapes[b])
        elif kind == "matmul":
            ops.append({"id": oid, "op": kind, "inputs": [rng.choice(square), rng.choice(square)]})
            shapes[oid] = (size, size)
        elif kind == "mean":
            a = rng.choice(list(shapes))
            ops.append({"id": oid, "op": "mean", "inputs": [a], "params": {"axis": -1, "keepdims": True}})
            shapes[oid] = shapes[a][:-1] + (1,)
        else:
            a = rng.choice(square if kind == "transpose" else list(shapes))
            ops.append({"id": oid, "op": kind, "inputs": [a]})
            shapes[oid] = shapes[a]
    ops.append({"id": "s", "op": "add", "inputs": [f"v{n_ops - 1}", f"v{n_ops - 3}"]})
    ops.append({"id": "loss", "op": "sum", "inputs": ["s"]})
    ops += [{"id": f"d{i}", "op": "grad", "inputs": ["loss", f"x{i}"]} for i in range(3)]
    return {"name": name, "ops": ops, "outputs": ["loss", "d0", "d1", "d2"]}


def numpy_loss(doc, values):
    """The loss of a grad_graph document in float64, with the inputs' values from `values`."""
    fns = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "maximum": np.maximum, "tanh": np.tanh,
           "sigmoid": lambda a: 1 / (1 + np.exp(-a)), "neg": np.negative, "matmul": np.matmul,
           "transpose": np.transpose, "sum": np.sum, "mean": lambda a: np.mean(a, axis=-1, keepdims=True)}
    vals = dict(values)
    for op in doc["ops"]:
        if op["op"] not in ("tensor", "grad"):
            vals[op["id"]] = fns[op["op"]](*[vals[i] for i in op["inputs"]])
    return float(vals["loss"])


def case_grad(c):
    """grad ops through the CLI, the server and two workers: the gradients of random DAGs with fan-out
    match NumPy's central differences, and a gradient through argmax is refused naming the op."""
    c.start_server()
    c.start_worker("w1")
    c.start_worker("w2")
    c.wait_workers_ready(["w1", "w2"])
    rng = random.Random(12)
    for g in range(4):
        doc = grad_graph(rng, f"grad{g}")
        code, result, err = submit_json(c, c.graph_file(f"grad{g}.json", doc))
        check(code == 0 and result["status"] == "computed", f"{doc['name']}: exit {code}, {result}, {err}")
        inputs = {op["id"]: np.array(op["value"], dtype=np.float64) for op in doc["ops"] if op["op"] == "tensor"}
        for i in range(3):
            got = result["outputs"][f"d{i}"]
            check(got["dtype"] == "float64", f"{doc['name']}: d{i} dtype {got['dtype']}")
            data = np.array(got["data"], dtype=np.float64).reshape(got["shape"])
            numeric = np.zeros_like(inputs[f"x{i}"])
            for index in np.ndindex(*numeric.shape):
                plus, minus = dict(inputs), dict(inputs)
                plus[f"x{i}"] = inputs[f"x{i}"].copy()
                minus[f"x{i}"] = inputs[f"x{i}"].copy()
                plus[f"x{i}"][index] += 1e-6
                minus[f"x{i}"][index] -= 1e-6
                numeric[index] = (numpy_loss(doc, plus) - numpy_loss(doc, minus)) / 2e-6
            check(np.allclose(data, numeric, rtol=1e-3, atol=1e-5),
                  f"{doc['name']}: d{i} = {data.ravel()[:6]} but central differences say {numeric.ravel()[:6]}")
        print(f"{doc['name']}: {len(doc['ops'])} ops, 3 gradients match central differences")
    refused = {"ops": [{"id": "x", "op": "tensor", "value": [1.0, 2.0]},
                       {"id": "am", "op": "argmax", "inputs": ["x"]},
                       {"id": "y", "op": "add", "inputs": ["am", "x"]},
                       {"id": "loss", "op": "sum", "inputs": ["y"]},
                       {"id": "dx", "op": "grad", "inputs": ["loss", "x"]}]}
    code, out, err = c.corvid("submit", c.graph_file("refused.json", refused), "--wait")
    check(code != 0 and "op 'am': argmax has no gradient (needed for grad 'dx')" in err,
          f"argmax path: exit {code}, stderr {err!r}")


def adam_training_graph(x, y, w0, steps, lr):
    """A graph file that trains w of mean((x w - y)^2) with Adam for `steps` steps: each step a
    loss, its grad and the three Adam ops on the previous step's w, m and v (outputs: every loss
    and the last w)."""
    ops = [{"id": "x", "op": "tensor", "value": x.tolist(), "dtype": "float64"},
           {"id": "y", "op": "tensor", "value": y.tolist(), "dtype": "float64"},
           {"id": "w0", "op": "tensor", "value": w0.tolist(), "dtype": "float64"},
           {"id": "m0", "op": "zeros", "params": {"shape": list(w0.shape), "dtype": "float64"}},
           {"id": "v0", "op": "zeros", "params": {"shape": list(w0.shape), "dtype": "float64"}}]
    for k in range(1, steps + 1):
        p = k - 1
        ops += [{"id": f"r{k}", "op": "sub", "inputs": [f"xw{k}", "y"]},
                {"id": f"xw{k}", "op": "matmul", "inputs": ["x", f"w{p}"]},
                {"id": f"sq{k}", "op": "square", "inputs": [f"r{k}"]},
                {"id": f"loss{k}", "op": "mean", "inputs": [f"sq{k}"]},
                {"id": f"g{k}", "op": "grad", "inputs": [f"loss{k}", f"w{p}"]},
                {"id": f"m{k}", "op": "adam_m", "inputs": [f"m{p}", f"g{k}"], "params": {"beta1": 0.9}},
                {"id": f"v{k}", "op": "adam_v", "inputs": [f"v{p}", f"g{k}"], "params": {"beta2": 0.999}},
                {"id": f"w{k}", "op": "adam_update", "inputs": [f"w{p}", f"m{k}", f"v{k}"],
                 "params": {"lr": lr, "step": k}}]
    return {"name": "adam training", "ops": ops, "outputs": [f"loss{k}" for k in range(1, steps + 1)] + [f"w{steps}"]}


def case_optimizer(c):
    """A training loop in the graph format through the CLI, the server and two workers: 30 Adam
    steps on a least-squares fit, the updates and their state computed on workers, match NumPy's
    Adam (torch.optim's algorithm) step by step, and the loss falls."""
    c.start_server()
    c.start_worker("w1")
    c.start_worker("w2")
    c.wait_workers_ready(["w1", "w2"])
    rng = np.random.default_rng(3)
    x = rng.standard_normal((20, 4))
    y = x @ rng.standard_normal((4, 2))
    w0 = rng.standard_normal((4, 2))
    steps, lr = 30, 0.1
    code, result, err = submit_json(c, c.graph_file("adam.json", adam_training_graph(x, y, w0, steps, lr)))
    check(code == 0 and result["status"] == "computed", f"exit {code}, {result.get('failed')}, {err}")
    w, m, v = w0.copy(), np.zeros_like(w0), np.zeros_like(w0)
    losses = []
    for k in range(1, steps + 1):
        r = x @ w - y
        losses.append(np.mean(r * r))
        g = 2 * x.T @ r / r.size
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        w = w - lr * (m / (1 - 0.9 ** k)) / (np.sqrt(v / (1 - 0.999 ** k)) + 1e-8)
        got = result["outputs"][f"loss{k}"]["data"][0]
        check(abs(got - losses[-1]) <= 1e-9 * abs(losses[-1]), f"step {k}: loss {got}, NumPy's Adam {losses[-1]}")
    got_w = np.array(result["outputs"][f"w{steps}"]["data"]).reshape(w.shape)
    check(np.allclose(got_w, w, rtol=1e-9, atol=1e-12), f"w after {steps} steps: {got_w} but NumPy's Adam {w}")
    check(losses[-1] < 0.1 * losses[0], f"the loss did not fall: {losses[0]} -> {losses[-1]}")
    print(f"{steps} Adam steps on workers match NumPy; loss {losses[0]:.4f} -> {losses[-1]:.4f}")


def graph_values_held(c, graph_id):
    """The values the server holds for a graph (memory or store), as /api/status shows them."""
    for g in c.status()["graphs"]:
        if g["id"] == graph_id:
            return g["values"]
    raise TestFailure(f"graph {graph_id} is not on /api/status")


def case_training_release(c):
    """A long training loop is one graph with one submit per step: 200 SGD-with-momentum steps and
    200 Adam steps of the Python package (R.SGD, R.Adam) on a 64x16 least-squares model, through the
    real server and two workers. Each step's optimizer releases the parameters, state and gradients
    it replaced, so the bytes the server holds for the graph stay bounded (read from /api/status
    after 20 and after 200 steps: they grow by the losses the loop fetched, 8 bytes a step, give or
    take the values of the steps in flight, not by the 8 KB parameter versions and the gradients
    and backward-pass values of every step), and the result still matches NumPy's optimizers."""
    sys.path.insert(0, os.environ.get("CORVID_PYTHONPATH", ""))
    import corvid as R
    c.start_server()
    os.environ["CORVID_TOKEN"] = c.token()
    c.start_worker("w1")
    c.start_worker("w2")
    c.wait_workers_ready(["w1", "w2"])
    rng = np.random.default_rng(21)
    x_np = rng.standard_normal((32, 64))
    y_np = x_np @ rng.standard_normal((64, 16))
    w0 = 0.1 * rng.standard_normal((64, 16))
    steps, early = 200, 20
    param_bytes = w0.nbytes

    def run(make_opt, name):
        g = R.Graph(name=name, server=c.url, progress=False)
        x, y, w = R.t(x_np), R.t(y_np), R.t(w0)
        opt = make_opt([w])
        losses, held = [], {}
        for k in range(1, steps + 1):
            loss = R.mean(R.square(R.matmul(x, w) - y))
            opt.step(loss)
            losses.append(float(loss()))
            if k in (early, steps):
                held[k] = graph_values_held(c, g.id)
        final_w = np.array(w())
        report = g.end()
        check(report.status == "computed", f"{name}: {report}")
        growth = held[steps]["bytes"] - held[early]["bytes"]
        print(f"{name}: server holds {held[early]['held']} values ({held[early]['bytes']:.0f} B) after {early} steps, "
              f"{held[steps]['held']} ({held[steps]['bytes']:.0f} B) after {steps}; {held[steps]['freed']} freed")
        # Losses (8 B a step) and the values of the step or two in flight when each figure is read.
        check(growth <= 8 * (steps - early) + 3 * param_bytes,
              f"{name}: the held bytes grew by {growth:.0f} B over {steps - early} steps (one parameter version is "
              f"{param_bytes} B): superseded values are not released")
        return np.array(losses), final_w

    # NumPy's SGD with momentum and Adam (torch.optim's algorithms) on the same loss.
    def grad_of(w):
        return 2 * x_np.T @ (x_np @ w - y_np) / (32 * 16)

    losses, got_w = run(lambda ps: R.SGD(ps, lr=0.05, momentum=0.9), "sgd release")
    w, buf, ref = w0.copy(), np.zeros_like(w0), []
    for _ in range(steps):
        ref.append(np.mean((x_np @ w - y_np) ** 2))
        buf = 0.9 * buf + grad_of(w)
        w = w - 0.05 * buf
    check(np.allclose(losses, ref, rtol=1e-9), f"SGD losses differ from NumPy's: {losses[:3]} vs {ref[:3]}")
    check(np.allclose(got_w, w, rtol=1e-9, atol=1e-12), "SGD's final w differs from NumPy's")

    losses, got_w = run(lambda ps: R.Adam(ps, lr=0.01), "adam release")
    w, m, v, ref = w0.copy(), np.zeros_like(w0), np.zeros_like(w0), []
    for k in range(1, steps + 1):
        ref.append(np.mean((x_np @ w - y_np) ** 2))
        gw = grad_of(w)
        m, v = 0.9 * m + 0.1 * gw, 0.999 * v + 0.001 * gw * gw
        w = w - 0.01 * (m / (1 - 0.9 ** k)) / (np.sqrt(v / (1 - 0.999 ** k)) + 1e-8)
    check(np.allclose(losses, ref, rtol=1e-9), f"Adam losses differ from NumPy's: {losses[:3]} vs {ref[:3]}")
    check(np.allclose(got_w, w, rtol=1e-9, atol=1e-12), "Adam's final w differs from NumPy's")
    check(ref[-1] < 0.1 * ref[0], f"the loss did not fall: {ref[0]} -> {ref[-1]}")


def case_cli_verbs(c):
    """A graph's life through the CLI: submit without waiting, status, result before and after,
    wait (and Ctrl-C in a wait), cancel, workers, --npy, summarised values, JSON errors."""
    c.start_server()
    rng = np.random.default_rng(5)
    a = rng.standard_normal((40, 50)).astype(np.float32).round(3)
    doc = {"name": "verbs", "ops": [{"id": "a", "op": "tensor", "value": a.tolist(), "dtype": "float32"},
                                    {"id": "b", "op": "neg", "inputs": ["a"]},
                                    {"id": "s", "op": "sum", "inputs": ["b"], "params": {"axis": 0}}],
           "outputs": ["b", "s"]}
    code, out, err = c.corvid("submit", c.graph_file("verbs.json", doc))
    check(code == 0, f"submit: exit {code}: {err}")
    graph_id = int(re.search(r"submitted graph (\d+)", out).group(1))
    check(f"corvid wait {graph_id}" in out, f"submit without --wait does not say how to wait: {out!r}")

    # No worker yet: the graph is running, result says so, status lists it.
    code, out, err = c.corvid("result", str(graph_id))
    check(code == 1 and "still running" in err and f"corvid wait {graph_id}" in err, f"result too early: {code} {err!r}")
    code, out, err = c.corvid("status")
    check(code == 0 and f"graph {graph_id} 'verbs'" in out and "running" in out, f"status: {code} {out!r} {err!r}")
    code, out, err = c.corvid("workers")
    check(code == 0 and "no worker is connected" in out and f"http://127.0.0.1:{c.port}/" in out, f"workers: {out!r}")

    # Ctrl-C in a wait says how to reattach.
    p = c.corvid_background("wait", str(graph_id))
    time.sleep(1.5)
    p.send_signal(signal.SIGINT)
    code, out, err = finish(p, 20, "corvid wait after Ctrl-C")
    check(code == 130 and f"corvid wait {graph_id}" in err and "keeps running" in err, f"interrupted wait: {code} {err!r}")

    # A second graph, cancelled before any worker took it.
    code, out, err = c.corvid("submit", c.graph_file("other.json", dict(doc, name="other")))
    other = int(re.search(r"submitted graph (\d+)", out).group(1))
    code, out, err = c.corvid("cancel", str(other))
    check(code == 0 and re.search(rf"graph {other}: [1-9]\d* op\(s\) cancelled", out), f"cancel: {code} {out!r} {err!r}")

    c.start_worker("w1")
    c.wait_workers_ready(["w1"])
    code, out, err = c.corvid("wait", str(graph_id), "--json")
    check(code == 0, f"wait: exit {code}: {err}")
    result = json.loads(out)
    check(result["status"] == "computed", f"wait: {result}")
    s = np.array(result["outputs"]["s"]["data"], dtype=np.float32)
    check(np.allclose(s, -a.sum(axis=0), rtol=1e-4, atol=1e-4), "wait: s differs from NumPy")

    npy = os.path.join(c.dir, "npy")
    code, out, err = c.corvid("result", str(graph_id), "--npy", npy)
    check(code == 0, f"result: exit {code}: {err}")
    check(np.array_equal(np.load(os.path.join(npy, "b.npy")), -a), "result --npy: b.npy differs")
    check(np.allclose(np.load(os.path.join(npy, "s.npy")), -a.sum(axis=0), rtol=1e-4, atol=1e-4), "s.npy differs")
    # 2,000 values print summarised as NumPy does, unless --full.
    check("..." in out and len(out) < 3000, f"result of a 40x50 value is not summarised ({len(out)} characters)")
    code, full, err = c.corvid("result", str(graph_id), "--full")
    check(code == 0 and "..." not in full and len(full) > 10000, "result --full is not in full")

    # The same value over HTTP: JSON, or .npy with Accept: application/x-npy; the token is required.
    import io
    import urllib.error
    import urllib.request
    url = f"http://127.0.0.1:{c.port}/api/graphs/{graph_id}/values/s"
    auth = {"Authorization": f"Bearer {c.token()}"}
    with urllib.request.urlopen(urllib.request.Request(url, headers=auth), timeout=10) as r:
        got = json.loads(r.read())
    check(np.allclose(np.array(got["data"]), -a.sum(axis=0), rtol=1e-4, atol=1e-4), "GET .../values/s (JSON) differs")
    with urllib.request.urlopen(urllib.request.Request(url, headers={**auth, "Accept": "application/x-npy"}), timeout=10) as r:
        check(np.allclose(np.load(io.BytesIO(r.read())), -a.sum(axis=0), rtol=1e-4, atol=1e-4), "GET .../values/s (.npy) differs")
    try:
        urllib.request.urlopen(url, timeout=10)
        check(False, "a value was served without the token")
    except urllib.error.HTTPError as e:
        check(e.code == 401 and b"token" in e.read(), f"without the token: HTTP {e.code}")
    try:
        urllib.request.urlopen(urllib.request.Request(url[:-1] + "nope", headers=auth), timeout=10)
        check(False, "an unknown op id was served")
    except urllib.error.HTTPError as e:
        check(e.code == 404 and b"no op 'nope'" in e.read(), f"unknown op: HTTP {e.code}")
    for bad in ("s%2", "s%zz", "s%00"):
        try:
            urllib.request.urlopen(urllib.request.Request(url[:-1] + bad, headers=auth), timeout=10)
            check(False, f"op id {bad!r} was accepted")
        except urllib.error.HTTPError as e:
            check(e.code == 400 and b"bad op id" in e.read(), f"op id {bad!r}: HTTP {e.code}")

    code, out, err = c.corvid("status", str(other))
    check(code == 0 and "cancelled" in out, f"status of the cancelled graph: {out!r}")
    code, out, err = c.corvid("workers")
    check(code == 0 and "'w1'" in out, f"workers: {out!r}")
    code, out, err = c.corvid("wait", "999", "--json")
    err_json = json.loads(out)
    check(code == 1 and err_json["exit_code"] == 1 and "unknown graph_id 999" in err_json["error"],
          f"wait --json of an unknown graph: {code} {out!r}")
    p = subprocess.run([c.bins.corvid, "sumbit", "x.json"], capture_output=True, text=True)
    check(p.returncode == 2 and "did you mean 'submit'" in p.stderr, f"mistyped command: {p.returncode} {p.stderr!r}")
    p = subprocess.run([c.bins.corvid, "--version"], capture_output=True, text=True)
    check(p.returncode == 0 and re.match(r"corvid \d+\.\d+ \(wire protocol 1\)", p.stdout), f"--version: {p.stdout!r}")


def case_no_worker_notice(c):
    """A developer who waits while no worker is connected is told so once, with the page to open;
    the graph computes once a worker comes."""
    c.start_server()
    doc = json.load(open(os.path.join(GRAPHS, "readme_example.json")))
    p = c.corvid_background("submit", c.graph_file("g.json", doc), "--wait", "--json")
    time.sleep(5)
    check(p.poll() is None, "corvid submit --wait finished without a worker")
    c.start_worker("w1")
    code, out, err = finish(p, 60, "corvid submit --wait once a worker came")
    check(code == 0, f"exit {code}: {err}")
    check(err.count("no worker has been connected") == 1, f"the notice is not said exactly once: {err!r}")
    check(f"http://127.0.0.1:{c.port}/" in err and "Participate" in err, f"the notice names no page: {err!r}")
    check_outputs(json.loads(out), doc, "graph after the notice")


# ---- several servers on PostgreSQL (issue 16) ----


def case_pg_server_restart(c):
    """--store postgresql://: random graphs computed with workers; then the server is killed
    mid-graph and started again with an EMPTY data directory on the same database: the graph is
    still there (it lived in PostgreSQL, not in corvid.db), completes with NumPy's values, and the
    developer token is the one kept in the database."""
    with PgCluster() as pg:
        store = pg.create_database("corvid")
        c.start_server("--store", store, "--lease-ms", "1500")
        c.start_worker("w1", slowdown=20)
        c.start_worker("w2", slowdown=20)
        c.wait_workers_ready(["w1", "w2"])
        rng = np.random.default_rng(16)
        submit_all_and_check(c, [random_graph(rng, f"pg-random-{i}") for i in range(3)])
        check(int(pg.sql("SELECT count(*) FROM graphs", "corvid")) == 3, "the 3 graphs are not in PostgreSQL")
        check(not os.path.exists(os.path.join(c.data_dir, "corvid.db")), "a PostgreSQL server created corvid.db")

        doc = chain_graph("pg-restart", 160, size=128)
        p = c.corvid_background("submit", c.graph_file("chain.json", doc), "--wait", "--json")

        def partly_computed():
            graphs = [g for g in c.status().get("graphs", []) if g["name"] == "pg-restart"]
            return graphs and graphs[0]["counts"].get("computed", 0) > 10 and graphs[0]

        graph = wait_until(partly_computed, 60, "the graph to be partly computed")
        check(p.poll() is None, "corvid submit finished before the server was killed; make the graph longer")
        token = c.token()
        c.kill_server()
        check(graph["counts"]["computed"] < graph["total"], "the graph was complete before the kill")
        c.data_dir = os.path.join(c.dir, "data-after")  # nothing local survives
        c.start_server("--store", store, "--lease-ms", "1500")
        check(c.token() == token, "the restarted server did not take the developer token kept in the database")
        # On the same address, the new server takes the killed one's graphs at once.
        names = [g["name"] for g in c.status()["graphs"]]
        check("pg-restart" in names and len(names) == 4, f"graphs after the restart: {names}")
        code, out, err = finish(p, 150, "corvid submit --wait across a server restart")
        check(code == 0, f"exit {code}: {err}")
        check_outputs(json.loads(out), doc, "graph across a restart on PostgreSQL")
        c.wait_workers_ready(["w1", "w2"], timeout=20)
        c.stop()


def pg_servers(c, pg, count, lease_ms, *extra):
    """`count` servers on one fresh database of `pg`: c's and count - 1 more Clusters (each its
    own port, data directory and workers; stopped by stop_servers), each given `extra` flags."""
    store = pg.create_database("corvid")
    servers = [c] + [Cluster(c.bins, f"{c.dir.rsplit('-', 1)[-1]}-s{i}") for i in range(1, count)]
    for s in servers:
        s.start_server("--store", store, "--lease-ms", str(lease_ms), *extra)
    return servers


def stop_servers(servers, failed):
    """Stops every server and its workers; the logs of the extra servers are printed if `failed`
    (run.py prints the first one's)."""
    for s in servers[1:]:
        if failed:
            s.dump_logs()
        s.stop()
        shutil.rmtree(s.dir, ignore_errors=True)
    servers[0].stop()


def graph_on(server, name):
    """The /api/status row of graph `name` on `server` (None if it does not hold it)."""
    try:
        return next((g for g in server.status().get("graphs", []) if g["name"] == name), None)
    except OSError:
        return None


def case_pg_three_servers(c):
    """Three servers on one PostgreSQL database, two workers and two developers on each: every
    random graph computes NumPy's values, graph ids never collide, and a developer asking a
    server about a graph another one owns gets its values (the server answers with `redirect`
    naming the owner, and the library follows it)."""
    with PgCluster() as pg:
        servers = pg_servers(c, pg, 3, 3000)
        try:
            for i, s in enumerate(servers):
                for k in range(2):
                    s.start_worker(f"s{i}w{k}")
            for i, s in enumerate(servers):
                s.wait_workers_ready([f"s{i}w0", f"s{i}w1"])
            check(len({s.token() for s in servers}) == 1, "the servers do not share one developer token")
            rng = np.random.default_rng(163)
            procs = []
            for i, s in enumerate(servers):
                for k in range(2):
                    doc = random_graph(rng, f"s{i}-g{k}", n_ops=16)
                    procs.append((s, doc, s.corvid_background("submit", s.graph_file(f"{doc['name']}.json", doc),
                                                              "--wait", "--json")))
            for s, doc, p in procs:
                code, out, err = finish(p, 120, f"graph {doc['name']}")
                check(code == 0, f"{doc['name']}: exit {code}, stderr {err}")
                check_outputs(json.loads(out), doc, doc["name"])
            ids = [int(x) for x in pg.sql("SELECT id FROM graphs ORDER BY id", "corvid").split()]
            check(len(ids) == 6 and len(set(ids)) == 6, f"graph ids in the database: {ids}")
            owned = {g["id"] for g in servers[0].status()["graphs"]}
            other = next(i for i in ids if i not in owned)
            # Server 0 answers with `redirect` naming the owner; the library follows it.
            code, out, err = servers[0].corvid("wait", str(other), "--json")
            owner_row = next(g for s in servers[1:] for g in s.status()["graphs"] if g["id"] == other)
            check(code == 0, f"asking server 0 about graph {other}: exit {code}, {out} {err}")
            check_outputs(json.loads(out), next(doc for _, doc, _ in procs if doc["name"] == owner_row["name"]),
                          f"graph {other} waited on through server 0's redirect")
        except BaseException:
            stop_servers(servers, True)
            raise
        stop_servers(servers, False)


def case_pg_owner_killed(c):
    """Three servers, lease 1.5 s: the owner of a graph is killed with SIGKILL mid-graph; another
    server adopts it within the lease time, and the developer's `corvid submit --wait --server
    A,B,C` (A the owner) fails over by itself (the next server names the adopter with `redirect`,
    the library follows it): the graph completes with NumPy's values, with no reconnect by hand."""
    lease_s = 1.5
    with PgCluster() as pg:
        servers = pg_servers(c, pg, 3, int(lease_s * 1000))
        try:
            for i, s in enumerate(servers):
                s.start_worker(f"s{i}w0", slowdown=20)
                s.wait_workers_ready([f"s{i}w0"])
            doc = chain_graph("killed-owner", 120, size=128)
            server_list = ",".join(s.url for s in servers)
            p = subprocess.Popen([c.bins.corvid, "submit", c.graph_file("chain.json", doc), "--wait", "--json",
                                  "--server", server_list], env=c.env(), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            graph = wait_until(lambda: (g := graph_on(c, "killed-owner")) and g["counts"].get("computed", 0) > 10 and g,
                               60, "the graph to be partly computed")
            c.kill_server()
            killed_at = time.monotonic()
            check(graph["counts"]["computed"] < graph["total"], "the graph was complete before the kill")
            adopter = wait_until(lambda: next((s for s in servers[1:] if graph_on(s, "killed-owner")), None),
                                 4 * lease_s + 5, "another server to adopt the graph")
            print(f"adopted by {adopter.url} {time.monotonic() - killed_at:.2f} s after the kill (lease {lease_s} s)")
            code, out, err = finish(p, 150, "corvid submit --wait --server A,B,C across its owner's death")
            check(code == 0, f"corvid submit --wait --server {server_list}: exit {code}: {err}")
            check_outputs(json.loads(out), doc, "graph adopted after its owner was killed")
            check(metric_value(adopter, "corvid_graphs_adopted_total") >= 1, "the adopter's /metrics counts no adoption")
        except BaseException:
            stop_servers(servers, True)
            raise
        stop_servers(servers, False)


def case_pg_worker_learns_peers(c):
    """Two servers on one PostgreSQL database and no --peers: a worker given only the first
    server's address learns the second from its welcome (the live servers of the shared store),
    fails over to it when the first is killed, and computes a graph there with NumPy's values."""
    lease_ms = 1000
    with PgCluster() as pg:
        servers = pg_servers(c, pg, 2, lease_ms)
        a, b = servers
        try:
            # Both register and renew every third of the lease: after two leases, a knows b.
            time.sleep(2 * lease_ms / 1000)
            a.start_worker("w")
            a.wait_workers_ready(["w"])
            a.kill_server()
            b.wait_workers_ready(["w"], timeout=30)
            doc = random_graph(np.random.default_rng(11), "on-b", n_ops=12)
            code, out, err = b.corvid("submit", b.graph_file("g.json", doc), "--wait", "--json", timeout=60)
            check(code == 0, f"corvid submit on b: exit {code}: {err}")
            check_outputs(json.loads(out), doc, "graph computed by the worker that failed over to b")
        except BaseException:
            stop_servers(servers, True)
            raise
        stop_servers(servers, False)


def case_pg_shared_quarantine(c):
    """Two servers on one PostgreSQL database: an operator's worker (worker token) that lies on
    server a is quarantined there (every group spot-checked), and the same identity connected to
    server b is quarantined by b within a lease renewal: trust records are shared."""
    with PgCluster() as pg:
        servers = pg_servers(c, pg, 2, 1000, "--spot-check-rate", "1", "--spot-check-budget", "1")
        a, b = servers
        try:
            token = os.path.join(a.data_dir, "worker-token")
            b.start_worker("op", 1, "--worker-token", token)
            b.wait_workers_ready(["op"])
            check(not b.worker_status("op")["quarantined"], "b's operator worker is quarantined from the start")
            a.start_worker("op", 1, "--worker-token", token, "--lie", "1", "--lie-mode", "perturb")
            a.start_worker("honest")
            a.wait_workers_ready(["op", "honest"])
            rng = random.Random(77)
            submit_all_and_check(a, [random_graph(rng, f"q{i}", n_ops=rng.randint(8, 20)) for i in range(6)], 120)
            check_quarantined(a, "op", "the lying operator's worker on a")
            on_b = check_quarantined(b, "op", "the same operator identity on b")
            print("quarantined on b with a's evidence:", on_b["evidence"]["detail"])
        except BaseException:
            stop_servers(servers, True)
            raise
        stop_servers(servers, False)


def case_pg_values_redirect(c):
    """Two servers on one PostgreSQL database: GET /api/graphs/<id> and .../values/<op> on the
    server that does not own the graph answer 307 to the owner, and the value arrives (urllib
    follows the redirect with the token) matching NumPy."""
    import urllib.error
    import urllib.request
    with PgCluster() as pg:
        servers = pg_servers(c, pg, 2, 1000)
        a, b = servers
        try:
            a.start_worker("w")
            a.wait_workers_ready(["w"])
            doc = random_graph(np.random.default_rng(3), "values-on-a", n_ops=10)
            code, out, err = a.corvid("submit", a.graph_file("g.json", doc), "--wait", "--json", timeout=60)
            check(code == 0, f"corvid submit on a: exit {code}: {err}")
            result = json.loads(out)
            check_outputs(result, doc, "graph on a")
            graph_id = result["graph_id"]
            op = doc["outputs"][0]
            auth = {"Authorization": f"Bearer {b.token()}"}
            url = f"http://127.0.0.1:{b.port}/api/graphs/{graph_id}/values/{op}"

            class NoRedirect(urllib.request.HTTPRedirectHandler):
                def redirect_request(self, *args, **kwargs):
                    return None
            try:
                urllib.request.build_opener(NoRedirect).open(urllib.request.Request(url, headers=auth), timeout=10)
                check(False, "b served a value of a's graph itself")
            except urllib.error.HTTPError as e:
                check(e.code == 307, f"b answered HTTP {e.code}, not 307")
                check(e.headers["Location"] == f"http://127.0.0.1:{a.port}/api/graphs/{graph_id}/values/{op}",
                      f"Location {e.headers['Location']}")
            with urllib.request.urlopen(urllib.request.Request(url, headers=auth), timeout=10) as r:
                got = json.loads(r.read())
            want = numpy_values(doc)[op]
            check(np.allclose(np.array(got["data"], dtype=np.float64).reshape(want.shape), want, rtol=1e-4, atol=1e-4),
                  "the value through the redirect differs from NumPy's")
            with urllib.request.urlopen(f"http://127.0.0.1:{b.port}/api/graphs/{graph_id}", timeout=10) as r:
                check(json.loads(r.read())["id"] == graph_id, "GET /api/graphs/<id> on b did not reach a's graph")
        except BaseException:
            stop_servers(servers, True)
            raise
        stop_servers(servers, False)


def case_pg_redirect(c):
    """Two servers on one PostgreSQL database, lease 1.5 s. A developer connected to server B only
    waits on a graph server A owns: B answers with `redirect`, the library follows it and the
    values are NumPy's. Then the Python package, given "A,B", computes a chain on A; A is killed
    with SIGKILL mid-graph: the value the program asked for arrives from B once B adopts the graph
    (B first names the dead A as the owner: the library keeps trying until B answers for it)."""
    sys.path.insert(0, os.environ.get("CORVID_PYTHONPATH", ""))
    import corvid as R
    with PgCluster() as pg:
        servers = pg_servers(c, pg, 2, 1500)
        a, b = servers
        try:
            a.start_worker("a0", slowdown=20)
            b.start_worker("b0", slowdown=20)
            a.wait_workers_ready(["a0"])
            b.wait_workers_ready(["b0"])
            doc = chain_graph("owned-by-a", 60, size=64)
            code, out, err = a.corvid("submit", a.graph_file("chain.json", doc), "--json")
            check(code == 0, f"corvid submit on a: exit {code}: {err}")
            graph_id = json.loads(out)["graph_id"]
            check(graph_on(a, "owned-by-a") and not graph_on(b, "owned-by-a"), "the graph is not a's alone")
            code, out, err = b.corvid("wait", str(graph_id), "--json", timeout=120)
            check(code == 0, f"corvid wait --server {b.url} on a's graph {graph_id}: exit {code}: {err}")
            check_outputs(json.loads(out), doc, "graph waited on through b's redirect to a")

            # The Python package: the same library, so the same failover and redirects.
            os.environ["CORVID_TOKEN"] = a.token()
            rng = np.random.default_rng(5)
            w_np = (rng.standard_normal((128, 128)) / np.sqrt(128)).astype(np.float32)
            x_np = rng.standard_normal((128, 128)).astype(np.float32)
            g = R.Graph(name="python-failover", server=f"{a.url},{b.url}", progress=False)
            w, x, ref = R.t(w_np), R.t(x_np), x_np
            for _ in range(120):
                x = R.tanh(R.matmul(x, w))
                ref = np.tanh(ref @ w_np)
            result = {}

            def fetch_value():
                try:
                    result["x"] = np.array(x())
                except Exception as e:  # reported by the check below
                    result["error"] = e

            fetch = threading.Thread(target=fetch_value)
            fetch.start()
            graph = wait_until(lambda: (h := graph_on(a, "python-failover")) and h["counts"].get("computed", 0) > 10
                               and h, 60, "the Python graph to be partly computed on a")
            a.kill_server()
            check(graph["counts"]["computed"] < graph["total"], "the Python graph was complete before the kill")
            fetch.join(120)
            check(not fetch.is_alive() and "x" in result,
                  f"the Python program's value did not arrive after a was killed: {result.get('error')}")
            check(graph_on(b, "python-failover"), "b did not adopt the Python graph")
            check(np.allclose(result["x"], ref, rtol=1e-3, atol=1e-4), "the Python value differs from NumPy's")
            del g
        except BaseException:
            stop_servers(servers, True)
            raise
        stop_servers(servers, False)


def case_pg_rebalance(c):
    """Two servers, all four workers on the first: a graph submitted to the second (no worker,
    a backlog) is computed once the first, idle, redirects workers there (`redirect`, followed by
    corvid-worker), with NumPy's values."""
    with PgCluster() as pg:
        servers = pg_servers(c, pg, 2, 1500)
        a, b = servers
        try:
            names = [f"a{k}" for k in range(4)]
            for n in names:
                a.start_worker(n)
            a.wait_workers_ready(names)
            check(not b.status().get("workers"), "server b has workers before the rebalancing")
            doc = random_graph(np.random.default_rng(7), "backlog-on-b", n_ops=20)
            code, out, err = b.corvid("submit", b.graph_file("g.json", doc), "--wait", "--json", timeout=60)
            check(code == 0, f"corvid submit on b: exit {code}: {err}")
            check_outputs(json.loads(out), doc, "graph computed by workers redirected to b")
            moved = [w["name"] for w in b.status().get("workers", []) if w.get("name") in names]
            check(moved, "no worker of a reached b")
            print(f"workers redirected from a to b: {moved}")
        except BaseException:
            stop_servers(servers, True)
            raise
        stop_servers(servers, False)


def case_pg_owner_stalled(c):
    """Two servers, lease 1.5 s: the owner is stopped (SIGSTOP) past its lease, the other adopts
    the graph and completes it; the owner is resumed (SIGCONT): it writes nothing more to the
    database (checked there) and drops the graph, its developer's wait ends naming b and the
    library resumes it there, and the values are right."""
    with PgCluster() as pg:
        servers = pg_servers(c, pg, 2, 1500)
        a, b = servers
        try:
            a.start_worker("a0", slowdown=20)
            a.start_worker("a1", slowdown=20)
            a.wait_workers_ready(["a0", "a1"])
            doc = chain_graph("stalled-owner", 120, size=128)
            p = a.corvid_background("submit", a.graph_file("chain.json", doc), "--wait", "--json")
            graph = wait_until(lambda: (g := graph_on(a, "stalled-owner")) and g["counts"].get("computed", 0) > 10 and g,
                               60, "the graph to be partly computed")
            a_id = pg.sql(f"SELECT id FROM servers WHERE url = '{a.url}' AND NOT stopped", "corvid")
            a.server.send_signal(signal.SIGSTOP)
            wait_until(lambda: graph_on(b, "stalled-owner"), 10, "server b to adopt the graph")
            adopted_at = pg.sql("SELECT clock_timestamp()", "corvid")
            check(pg.sql(f"SELECT owner = {int(pg.sql('SELECT id FROM servers WHERE url = ' + repr(b.url), 'corvid'))}"
                         f" FROM leases WHERE graph_id = {graph['id']}", "corvid") == "t", "b does not hold the lease")
            b.start_worker("b0", slowdown=2)
            a.server.send_signal(signal.SIGCONT)
            # The developer's CLI (given only a) waits on a, which ends the wait naming b, the new
            # owner (`redirect`): the library resumes the wait on b.
            code, out, err = finish(p, 150, "corvid submit --wait --server a across a's stall")
            check(code == 0, f"corvid submit --wait --server {a.url}: exit {code}: {err}")
            check_outputs(json.loads(out), doc, "graph adopted from a stalled owner")
            wait_until(lambda: graph_on(a, "stalled-owner") is None, 10, "server a to drop the graph it lost")
            check(metric_value(a, "corvid_leases_lost_total") >= 1, "a's /metrics counts no lost lease")
            time.sleep(1)  # a's workers may still answer groups it had handed out: none may land
            late = pg.sql(f"SELECT (SELECT count(*) FROM ops WHERE written_by = {a_id} AND written_at > '{adopted_at}')"
                          f" + (SELECT count(*) FROM tensors WHERE written_by = {a_id} AND written_at > '{adopted_at}')",
                          "corvid")
            check(late == "0", f"the stalled owner wrote {late} row(s) after it lost the lease")
            check(int(pg.sql(f"SELECT count(*) FROM ops WHERE written_by = {a_id}", "corvid")) > 0,
                  "a wrote nothing before the stall: the check above proves nothing")
        except BaseException:
            stop_servers(servers, True)
            raise
        stop_servers(servers, False)


# ---- several servers: failover and redirects (issue 16) ----

class PeerServer:
    """A second server (its own Cluster) for the duration of a `with`, sharing the developer token
    of `c` (started first), as servers sharing a store would; its logs are printed on failure."""

    def __init__(self, c, name):
        self.cluster = Cluster(c.bins, name)
        os.makedirs(self.cluster.data_dir)
        shutil.copy(os.path.join(c.data_dir, "token"), os.path.join(self.cluster.data_dir, "token"))

    def __enter__(self):
        return self.cluster

    def __exit__(self, kind, value, traceback):
        if kind is not None:
            self.cluster.dump_logs()
        self.cluster.stop()
        shutil.rmtree(self.cluster.dir, ignore_errors=True)


def drain(c, url, count=None):
    """POST /api/drain on c's server with its developer token; returns the JSON answer."""
    query = urllib.parse.urlencode({"url": url, **({"count": count} if count is not None else {})})
    request = urllib.request.Request(f"http://127.0.0.1:{c.port}/api/drain?{query}", data=b"", method="POST",
                                     headers={"Authorization": f"Bearer {c.token()}"})
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.loads(r.read())


def compute_on(c, name, workers):
    """Submits a graph to c's server, checks its values against NumPy and that `workers` computed it."""
    doc = chain_graph(name, 4, size=32)
    code, out, err = c.corvid("submit", c.graph_file(f"{name}.json", doc), "--wait", "--json")
    check(code == 0, f"exit {code}: {err}")
    check_outputs(json.loads(out), doc, name)
    done = sum(groups_done(c, w) for w in workers)
    check(done > 0, f"none of {workers} computed a group of {name}")


def case_failover_worker(c):
    c.start_server()
    with PeerServer(c, "failover-b") as b:
        b.start_server()
        c.kill_server()
        c.start_server("--peers", b.url)
        # One worker is given both servers; the other only the first, and learns the second from the welcome.
        c.start_worker("listed", server=f"{c.url},{b.url}")
        c.start_worker("learner")
        c.wait_workers_ready(["listed", "learner"])
        c.kill_server()
        b.wait_workers_ready(["listed", "learner"], timeout=30)
        compute_on(b, "after-failover", ["listed", "learner"])


def case_drain_redirect(c):
    c.start_server()
    with PeerServer(c, "drain-b") as b:
        b.start_server()
        c.start_worker("mover")
        c.start_worker("stayer")
        c.wait_workers_ready(["mover", "stayer"])
        answer = drain(c, b.url, count=1)
        check(answer == {"redirected": 1, "url": b.url}, f"drain answered {answer}")
        moved = wait_until(lambda: [n for n in ("mover", "stayer") if b.worker_status(n)], 20,
                           "a worker to arrive on the other server")
        check(len(moved) == 1, f"one worker was to move, these did: {moved}")
        stayed = "stayer" if moved == ["mover"] else "mover"
        check(c.worker_status(stayed) is not None, f"{stayed} left the first server")
        compute_on(b, "after-drain", moved)
        check(drain(c, b.url) == {"redirected": 1, "url": b.url}, "the second drain did not move the other worker")
        b.wait_workers_ready(["mover", "stayer"])


def case_failover_cli(c):
    c.start_server()
    c.start_worker("w1")
    c.wait_workers_ready(["w1"])
    dead1, dead2 = f"ws://127.0.0.1:{free_port()}", f"ws://127.0.0.1:{free_port()}"
    path = os.path.join(GRAPHS, "readme_example.json")
    doc = json.load(open(path))

    def corvid(server, *extra_env):
        env = {**c.env(), **dict(extra_env)}
        args = [c.bins.corvid, "submit", path, "--wait", "--json"] + (["--server", server] if server else [])
        return subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)

    p = corvid(f"{dead1},{c.url}")
    check(p.returncode == 0, f"--server dead,alive: exit {p.returncode}: {p.stderr}")
    check_outputs(json.loads(p.stdout), doc, "--server dead,alive")
    p = corvid(None, ("CORVID_SERVER", f"{dead1},{c.url}"))
    check(p.returncode == 0, f"CORVID_SERVER=dead,alive: exit {p.returncode}: {p.stderr}")
    p = corvid(f"{dead1},{dead2}")
    check(p.returncode == 3, f"--server dead1,dead2: exit {p.returncode}: {p.stderr}")
    lines = p.stderr.strip().splitlines()
    check(len(lines) == 1 and dead1 in lines[0] and dead2 in lines[0], f"the error must name both: {p.stderr!r}")
    print(lines[0])

    # A developer whose server drops fails over to the next; with SQLite stores that server does
    # not know the graph, and says so.
    with PeerServer(c, "developer-b") as b:
        b.start_server()
        c.signal_worker("w1", signal.SIGKILL)
        c.start_worker("slow", 20)
        c.wait_workers_ready(["slow"])
        chain = chain_graph("dropped", 160, size=128)
        p = subprocess.Popen([c.bins.corvid, "submit", c.graph_file("dropped.json", chain), "--wait", "--json",
                              "--server", f"{c.url},{b.url}"], env=c.env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        wait_until(lambda: c.status()["graphs"] and c.status()["graphs"][0]["counts"].get("computed", 0) > 10, 60,
                   "the graph to be partly computed")
        c.kill_server()
        code, out, err = finish(p, 60, "corvid submit --wait after its server was killed")
        check(code != 0, f"the graph cannot complete on a server that does not know it: exit {code}, {out}")
        check(f"failed over to when {c.url} dropped" in err and "unknown graph_id" in err and b.url in err,
              f"the error must say the request failed over and the graph is unknown there: {err!r}")
        print(err.strip())



CASES = {name[len("case_"):]: fn for name, fn in globals().items() if name.startswith("case_")}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("--server-bin", required=True)
    parser.add_argument("--worker-bin", required=True)
    parser.add_argument("--corvid-bin", required=True)
    parser.add_argument("--snippet-bin", required=True)
    args = parser.parse_args()

    class Bins:
        server, worker, corvid, snippet = args.server_bin, args.worker_bin, args.corvid_bin, args.snippet_bin

    cluster = Cluster(Bins, args.case)

    def snippet_background():
            return subprocess.Popen([Bins.snippet, cluster.url], env=cluster.env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    cluster.snippet_background = snippet_background
    try:
        CASES[args.case](cluster)
    except TestFailure as e:
        print(f"FAILED: {e}")
        cluster.dump_logs()
        return 1
    except BaseException:
        cluster.dump_logs()
        raise
    finally:
        cluster.stop()
    shutil.rmtree(cluster.dir, ignore_errors=True)
    print(f"{args.case}: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
