#!/usr/bin/python3
"""Reference values for a graph file with grad ops (README, "Gradients"), for tests/browser/test_grad.js.

Usage: grad_reference.py GRAPH.json
Evaluates the graph with NumPy in float64 and each grad op {"inputs": [loss, w]} (w a tensor op)
by central differences of the loss in w, as torch.autograd.gradcheck does; prints
{"<output id>": {"dtype", "shape", "data"}} as JSON. Only the ops the test uses are known; any
other op is an error naming it.
"""
import json
import sys

import numpy as np

DTYPES = {"float32": np.float32, "float64": np.float64, "int32": np.int32, "bool": np.bool_}


def log_softmax(x, axis):
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


OPS = {
    "add": lambda p, x: x[0] + x[1],
    "mul": lambda p, x: x[0] * x[1],
    "neg": lambda p, x: -x[0],
    "square": lambda p, x: x[0] * x[0],
    "tanh": lambda p, x: np.tanh(x[0]),
    "matmul": lambda p, x: np.matmul(x[0], x[1]),
    "gather": lambda p, x: np.take(x[0], x[1], axis=p.get("axis", 0)),
    "sort": lambda p, x: np.sort(x[0], axis=p.get("axis", -1)),
    "one_hot": lambda p, x: np.eye(p["depth"], dtype=np.float32)[x[0]],
    "log_softmax": lambda p, x: log_softmax(x[0], p.get("axis", -1)),
    "sum": lambda p, x: np.sum(x[0], axis=None if p.get("axis") is None else tuple(np.atleast_1d(p["axis"]))),
    "mean": lambda p, x: np.mean(x[0], axis=None if p.get("axis") is None else tuple(np.atleast_1d(p["axis"]))),
}


def evaluate(graph, sources):
    values = dict(sources)
    for op in graph["ops"]:
        if op["op"] in ("tensor", "grad"):
            continue
        if op["op"] not in OPS:
            sys.exit(f"grad_reference.py: op '{op['id']}' uses '{op['op']}', which this reference does not know")
        values[op["id"]] = OPS[op["op"]](op.get("params", {}), [values[i] for i in op.get("inputs", [])])
    return values


def main():
    with open(sys.argv[1]) as f:
        graph = json.load(f)
    sources = {op["id"]: np.asarray(op["value"], dtype=DTYPES[op.get("dtype", "float32")])
               for op in graph["ops"] if op["op"] == "tensor"}
    values = evaluate(graph, sources)
    eps = 1e-6
    for op in graph["ops"]:
        if op["op"] != "grad":
            continue
        loss, w = op["inputs"]
        grad = np.zeros_like(sources[w], dtype=np.float64)
        for index in np.ndindex(*grad.shape):
            moved = []
            for delta in (eps, -eps):
                changed = dict(sources)
                changed[w] = sources[w].astype(np.float64).copy()
                changed[w][index] += delta
                moved.append(float(evaluate(graph, changed)[loss]))
            grad[index] = (moved[0] - moved[1]) / (2 * eps)
        values[op["id"]] = grad.astype(sources[w].dtype)
    print(json.dumps({i: {"dtype": str(values[i].dtype), "shape": list(values[i].shape),
                          "data": values[i].ravel().tolist()} for i in graph["outputs"]}))


if __name__ == "__main__":
    main()
