"""Map jobs from Python against a real server and worker: callbacks for results and status,
shared Values, a callback that raises (the job is cancelled and the exception raised), cancel,
max_time, and the examples as written."""

import os
import subprocess
import sys

import numpy as np
import pytest

import corvid as R

HERE = os.path.dirname(os.path.abspath(__file__))


def test_slices_results_arrive_through_callbacks(cluster):
    g = R.Graph("map", progress=False)
    w = R.t(np.array([[1, 0], [0, 2], [1, 1]], np.float32))  # shared by every slice
    job = R.MapJob(g, lambda inputs, i: R.sum(R.matmul(inputs[0], w), 1))
    xs = [np.arange(6, dtype=np.float32).reshape(2, 3) + k for k in range(5)]
    for x in xs:
        job.add_slice(x)
    assert job.slices == 5
    results, statuses, posted = {}, [], []
    outcome = job.run(on_result=lambda i, v: results.__setitem__(i, v), on_status=statuses.append,
                      on_posted=lambda n, gid: posted.append((n, gid)), progress=False)
    assert outcome.ok and outcome.computed == 5 and not outcome.failed
    assert posted == [(5, g.id)]
    assert sorted(results) == list(range(5))
    for i, x in enumerate(xs):
        want = (x @ np.array([[1, 0], [0, 2], [1, 1]], np.float32)).sum(1)
        np.testing.assert_allclose(results[i], want)
        np.testing.assert_allclose(outcome.results[i], want)
    assert statuses and statuses[-1]["slices"] == 5
    g.end()


def test_a_failing_slice_is_reported(cluster):
    g = R.Graph("map-fail", progress=False)
    job = R.MapJob(g, lambda inputs, i: R.inv(inputs[0]))
    job.add_slice(np.eye(2, dtype=np.float32))
    job.add_slice(np.array([[1, 2], [2, 4]], np.float32))
    errors = []
    outcome = job.run(on_error=lambda i, e: errors.append((i, e)), progress=False)
    assert not outcome.ok and outcome.computed == 1
    assert errors and errors[0][0] == 1 and "singular" in errors[0][1]
    assert outcome.failed[0][0] == 1


def test_a_callback_that_raises_cancels_the_job_and_raises(cluster):
    g = R.Graph("map-raise", progress=False)
    job = R.MapJob(g, lambda inputs, i: inputs[0] * 2)
    for k in range(4):
        job.add_slice(np.full(3, k, np.int32))

    def boom(i, v):
        raise KeyError("stop here")

    with pytest.raises(KeyError, match="stop here"):
        job.run(on_result=boom, progress=False)


def test_cancel_from_a_callback_keeps_the_results_so_far(cluster):
    g = R.Graph("map-cancel", progress=False)
    job = R.MapJob(g, lambda inputs, i: inputs[0] + 1)
    for k in range(6):
        job.add_slice(np.full(2, k, np.float32))
    outcome = job.run(on_result=lambda i, v: job.cancel(), progress=False)
    assert outcome.cancelled and outcome.computed >= 1


def test_max_time_stops_the_job(cluster):
    g = R.Graph("map-time", progress=False)
    x = R.t(np.ones((200, 200), np.float32))

    def slow(inputs, i):
        y = inputs[0]
        for _ in range(30):
            y = R.matmul(y, x) / 200
        return y

    job = R.MapJob(g, slow)
    for k in range(8):
        job.add_slice(np.ones((200, 200), np.float32))
    outcome = job.run(max_time=0.05, progress=False)
    assert outcome.timed_out and not outcome.ok


@pytest.mark.parametrize("example", ["batch_inference.py", "hyperparameter_search.py"])
def test_examples_run(cluster, example):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    p = subprocess.run([sys.executable, os.path.join(HERE, "..", "examples", example)], env=env,
                       capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
