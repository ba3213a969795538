#!/usr/bin/python3
"""Reference values for a graph file with grad ops (README, "Gradients"), for tests/browser/test_grad.js.

Usage: grad_reference.py GRAPH.json
Evaluates the graph with NumPy in float64 and each grad op {"inputs": [loss, w]} (w a tensor op)
by central differences of the loss in w, as torch.autograd.gradcheck does; prints
{"<output id>": {"dtype", "shape", "data"}} as JSON. Only the ops the test uses are known; any
other op is an error naming it.
"""
import json
import os
import sys

import numpy as np

# The nn ops' references of the consistency suite.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "consistency", "cases"))
import nn  # noqa: E402

DTYPES = {"float32": np.float32, "float64": np.float64, "int32": np.int32, "bool": np.bool_}


def log_softmax(x, axis):
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def axes(p):
    return None if p.get("axis") is None else tuple(np.atleast_1d(p["axis"]))


def set_value(p, x):
    out = x[0].copy()
    out[tuple(p["index"])] = p["value"]
    return out


OPS = {
    "add": lambda p, x: x[0] + x[1],
    "sub": lambda p, x: x[0] - x[1],
    "div": lambda p, x: x[0] / x[1],
    "pow": lambda p, x: np.power(x[0], x[1]),
    "maximum": lambda p, x: np.maximum(x[0], x[1]),
    "minimum": lambda p, x: np.minimum(x[0], x[1]),
    "greater": lambda p, x: x[0] > x[1],
    "where": lambda p, x: np.where(x[0], x[1], x[2]),
    "clip": lambda p, x: np.clip(x[0], p.get("min"), p.get("max")),
    "abs": lambda p, x: np.abs(x[0]),
    "relu": lambda p, x: np.maximum(x[0], 0),
    "exp": lambda p, x: np.exp(x[0]),
    "log": lambda p, x: np.log(x[0]),
    "sqrt": lambda p, x: np.sqrt(x[0]),
    "cbrt": lambda p, x: np.cbrt(x[0]),
    "cube": lambda p, x: x[0] ** 3,
    "reciprocal": lambda p, x: 1 / x[0],
    "sin": lambda p, x: np.sin(x[0]),
    "cos": lambda p, x: np.cos(x[0]),
    "sigmoid": lambda p, x: 1 / (1 + np.exp(-x[0])),
    "softmax": lambda p, x: np.exp(log_softmax(x[0], p.get("axis", -1))),
    "prod": lambda p, x: np.prod(x[0], axis=axes(p), keepdims=p.get("keepdims", False)),
    "max": lambda p, x: np.max(x[0], axis=axes(p), keepdims=p.get("keepdims", False)),
    "min": lambda p, x: np.min(x[0], axis=axes(p), keepdims=p.get("keepdims", False)),
    "var": lambda p, x: np.var(x[0], axis=axes(p), ddof=p.get("ddof", 0)),
    "std": lambda p, x: np.std(x[0], axis=axes(p), ddof=p.get("ddof", 0)),
    "average": lambda p, x: np.average(x[0], axis=axes(p), weights=x[1] if len(x) > 1 else None),
    "dot": lambda p, x: np.dot(x[0], x[1]),
    "inv": lambda p, x: np.linalg.inv(x[0]),
    "transpose": lambda p, x: np.transpose(x[0], p.get("axes")),
    "concat": lambda p, x: np.concatenate(x, axis=p.get("axis", 0)),
    "stack": lambda p, x: np.stack(x, axis=p.get("axis", 0)),
    "split": lambda p, x: np.split(x[0], p["sections"], axis=p.get("axis", 0))[p["index"]],
    "slice": lambda p, x: x[0][tuple(slice(b, None if s == -1 else b + s) for b, s in zip(p["begin"], p["size"]))],
    "tile": lambda p, x: np.tile(x[0], p["reps"]),
    "reverse": lambda p, x: np.flip(x[0], axes(p)),
    "reshape": lambda p, x: np.reshape(x[0], p["shape"]),
    "flatten": lambda p, x: np.ravel(x[0]),
    "expand_dims": lambda p, x: np.expand_dims(x[0], p["axis"]),
    "squeeze": lambda p, x: np.squeeze(x[0], axes(p)),
    "set_value": set_value,
    "mul": lambda p, x: x[0] * x[1],
    "neg": lambda p, x: -x[0],
    "square": lambda p, x: x[0] * x[0],
    "tanh": lambda p, x: np.tanh(x[0]),
    "matmul": lambda p, x: np.matmul(x[0], x[1]),
    "gather": lambda p, x: np.take(x[0], x[1], axis=p.get("axis", 0)),
    "sort": lambda p, x: np.sort(x[0], axis=p.get("axis", -1)),
    "one_hot": lambda p, x: np.eye(p["depth"], dtype=np.float32)[x[0]],
    "log_softmax": lambda p, x: log_softmax(x[0], p.get("axis", -1)),
    "sum": lambda p, x: np.sum(x[0], axis=axes(p), keepdims=p.get("keepdims", False)),
    "mean": lambda p, x: np.mean(x[0], axis=axes(p), keepdims=p.get("keepdims", False)),
    "conv2d": lambda p, x: nn.conv2d_ref(x[0], x[1], x[2] if len(x) > 2 else None, p),
    "max_pool2d": lambda p, x: nn.max_pool2d_ref(x[0], p),
    "avg_pool2d": lambda p, x: nn.avg_pool2d_ref(x[0], p),
    "cross_entropy": lambda p, x: nn.cross_entropy_ref(x[0], x[1]),
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
