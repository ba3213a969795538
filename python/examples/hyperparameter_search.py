"""A hyperparameter search as a map job (DCP's notebook scenario): each slice trains a softmax
classifier from start to finish on a worker with its own learning rate and L2 penalty (every step
a graph op: forward pass, gradient, update) and returns its validation accuracy. The training
and validation images are shared Values, sent once.

    PYTHONPATH=build/native/python python3 python/examples/hyperparameter_search.py [steps]
"""

import itertools
import sys

import numpy as np

import corvid as R
import digits

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 40
(x_train, y_train), (x_val, y_val) = digits.load()
configs = list(itertools.product([0.1, 0.5, 2.0], [0.0, 0.01]))  # (learning rate, L2 penalty)

graph = R.Graph(name="hyperparameter-search")
X, Y = R.t(x_train), R.t(digits.one_hot(y_train))
XT = R.transpose(X)
XV, YV = R.t(x_val), R.t(y_val)


def train(inputs, i):
    w, lr, l2 = inputs  # initial weights, and this slice's hyperparameters as 0-d tensors
    for _ in range(steps):
        gradient = XT @ (R.softmax(X @ w) - Y) / len(x_train) + l2 * w
        w = w - lr * gradient
    return R.mean(R.cast(R.equal(R.argmax(XV @ w, 1), YV), np.float32))


job = R.MapJob(graph, train)
for lr, l2 in configs:
    job.add_slice(np.zeros((64, 10), np.float32), np.float32(lr), np.float32(l2))
outcome = job.run(on_result=lambda i, acc: print(f"lr {configs[i][0]}, l2 {configs[i][1]}: "
                                                 f"validation accuracy {float(acc):.3f}", flush=True),
                  max_time=180)
scores = [float(r) if r is not None else -1 for r in outcome.results]
best = int(np.argmax(scores))
print(f"best: lr {configs[best][0]}, l2 {configs[best][1]} with {scores[best]:.3f} ({outcome!r})")
graph.end()
sys.exit(0 if outcome.ok and scores[best] > 0.7 else 1)
