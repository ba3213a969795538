#!/usr/bin/python3
"""NumPy reference values for the graphs the browser tests submit.

Usage: numpy_reference.py GRAPH.json
Evaluates the graph file (README, "The graph file") with NumPy in float32, as Corvid computes
it, and prints {"<output id>": {"dtype", "shape", "data"}} as JSON. Only the ops the browser
tests use are known; any other op is an error naming it.
"""
import json
import sys

import numpy as np


def tensor(op, _):
    dtype = op.get("dtype") or op.get("params", {}).get("dtype") or "float32"
    value = op["value"] if "value" in op else op["params"]["value"]
    return np.asarray(value, dtype={"float32": np.float32, "float64": np.float64, "int32": np.int32, "bool": np.bool_}[dtype])


OPS = {
    "tensor": tensor,
    "ones": lambda op, _: np.ones(op["params"]["shape"], dtype=np.float32),
    "add": lambda op, x: x[0] + x[1],
    "sub": lambda op, x: x[0] - x[1],
    "mul": lambda op, x: x[0] * x[1],
    "matmul": lambda op, x: np.matmul(x[0], x[1]),
    "tanh": lambda op, x: np.tanh(x[0]),
    "sum": lambda op, x: np.sum(x[0], axis=op.get("params", {}).get("axis"), dtype=x[0].dtype),
}


def main():
    with open(sys.argv[1]) as f:
        graph = json.load(f)
    values = {}
    for op in graph["ops"]:
        if op["op"] not in OPS:
            sys.exit(f"numpy_reference.py: op '{op['id']}' uses '{op['op']}', which this reference does not know")
        values[op["id"]] = OPS[op["op"]](op, [values[i] for i in op.get("inputs", [])])
    outputs = graph.get("outputs") or list(values)
    print(json.dumps({i: {"dtype": str(values[i].dtype), "shape": list(values[i].shape),
                          "data": values[i].ravel().tolist()} for i in outputs}))


if __name__ == "__main__":
    main()
