"""Batch inference as a map job (DCP's notebook scenario): a softmax classifier trained here with
NumPy, its weights sent to the server once as shared Values, the test images cut into slices;
each slice's predictions come back as soon as a worker computed them, with that slice's accuracy.

    PYTHONPATH=build/native/python python3 python/examples/batch_inference.py [slices]
"""

import sys

import numpy as np

import corvid as R
import digits

(x_train, y_train), (x_test, y_test) = digits.load()
w, b = np.zeros((64, 10), np.float32), np.zeros(10, np.float32)
for _ in range(300):  # full-batch gradient descent on the cross-entropy, here in NumPy
    z = x_train @ w + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    d = (p - digits.one_hot(y_train)) / len(x_train)
    w -= 2.0 * x_train.T @ d
    b -= 2.0 * d.sum(0)

graph = R.Graph(name="batch-inference")
W, B = R.t(w), R.t(b)  # shared: sent once, used by every slice
job = R.MapJob(graph, lambda inputs, i: R.argmax(inputs[0] @ W + B, 1))
slices = np.array_split(np.arange(len(x_test)), int(sys.argv[1]) if len(sys.argv) > 1 else 10)
for rows in slices:
    job.add_slice(x_test[rows])


def on_result(i, predicted):
    accuracy = (predicted == y_test[slices[i]]).mean()
    print(f"slice {i}: {len(predicted)} images, accuracy {accuracy:.3f}", flush=True)


outcome = job.run(on_result=on_result, max_time=120)
predicted = np.concatenate(outcome.results)
local = np.argmax(x_test @ w + b, 1)
print(f"{outcome.computed} of {len(slices)} slices; accuracy {(predicted == y_test).mean():.3f}; "
      f"{(predicted != local).mean():.3%} differ from NumPy's predictions")
graph.end()
sys.exit(0 if outcome.ok and (predicted != local).mean() <= 0.01 and (predicted == y_test).mean() > 0.8 else 1)
