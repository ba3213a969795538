"""The package against a real server and worker: values checked against NumPy for ops of each
family, dtypes round-trip, RDF's example as written, an op failing on a worker, grad."""

import os
import pty
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import corvid as R
import harness

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(7)


@pytest.fixture
def graph(cluster, request):
    g = R.Graph(name=request.node.name[:60], progress=False)
    yield g
    report = g.end()
    assert report.status in ("computed", "failed")


def test_rdf_example_runs_as_written(cluster):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    p = subprocess.run([sys.executable, os.path.join(HERE, "..", "examples", "rdf_example.py")], env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "c:  [ 6 24 10]"


def test_a_value_is_a_numpy_array_and_end_reports(graph):
    c = R.t([1, 2, 3]) + R.t([5, 22, 7])
    v = c()
    assert isinstance(v, np.ndarray) and v.dtype == np.int32
    np.testing.assert_array_equal(v, [6, 24, 10])
    np.testing.assert_array_equal(np.asarray(c), [6, 24, 10])
    report = graph.end()
    assert report.ok and report.total == 3 and report.graph_id == graph.id
    assert "3 of 3 ops computed" in str(report)
    # The server's default policy verifies volunteers' results; the report says how.
    assert report.verification["policy"] == "adaptive"
    assert report.verification["wrong"] == 0 and "verification adaptive" in str(report)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.bool_])
def test_dtypes_round_trip_through_the_server(graph, dtype):
    a = (rng.integers(-5, 5, size=(3, 4, 5))).astype(dtype)
    v = R.t(a)
    w = R.reshape(v, [5, 12])  # computed by a worker
    got_v, got_w = graph.values([v, w])
    assert got_v.dtype == a.dtype and got_w.dtype == a.dtype
    np.testing.assert_array_equal(got_v, a)
    np.testing.assert_array_equal(got_w, a.reshape(5, 12))


def test_ops_of_each_family_match_numpy(graph):
    x = rng.standard_normal((4, 5)).astype(np.float32)
    y = rng.standard_normal((4, 5)).astype(np.float32)
    m = rng.standard_normal((5, 3)).astype(np.float32)
    i = rng.integers(0, 4, size=(6,)).astype(np.int32)
    X, Y = R.t(x), R.t(y)
    cases = [
        (R.exp(X), np.exp(x)),                                     # unary
        (R.relu(X), np.maximum(x, 0)),
        (X * Y - 2 * X / 3, x * y - 2 * x / 3),                    # binary, scalars
        (R.maximum(X, Y), np.maximum(x, y)),
        (X < Y, x < y),
        (R.where(X > 0, X, Y), np.where(x > 0, x, y)),             # ternary
        (R.sum(X, 1, keepdims=True), x.sum(1, keepdims=True)),     # reduce
        (R.mean(X), x.mean()),
        (R.argmax(X, axis=0), x.argmax(0)),
        (X @ m, x @ m),                                            # linalg
        (R.transpose(X), x.T),
        (R.concat([X, Y], 1), np.concatenate([x, y], 1)),          # movement
        (R.gather(X, R.t(i)), x[i]),
        (R.reshape(X, [2, -1]), x.reshape(2, -1)),
        (R.softmax(X), np.exp(x) / np.exp(x).sum(-1, keepdims=True)),  # activation
        (R.zeros([2, 3], np.float64), np.zeros((2, 3))),           # source
    ]
    got = graph.values([v for v, _ in cases])
    for (v, want), g in zip(cases, got):
        assert g.shape == np.shape(want), v
        if g.dtype.kind == "f":
            np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-5, err_msg=repr(v))
        else:
            np.testing.assert_array_equal(g, want, err_msg=repr(v))


def test_an_op_failing_on_a_worker_raises_op_failed_naming_it(graph):
    s = R.inv(R.t([[1.0, 2.0], [2.0, 4.0]]))
    with pytest.raises(R.OpFailed, match=r"op 'o\d+' \(inv\) failed: inv: matrix is singular") as e:
        s()
    assert e.value.op == "inv" and e.value.op_id == s.id and "singular" in e.value.error
    report = graph.end()
    assert not report.ok and report.failed[0]["op"] == "inv"


def test_grad_of_a_loss(graph):
    w0 = rng.standard_normal((3,)).astype(np.float32)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    w = R.t(w0)
    loss = R.sum(R.square(R.t(x) @ w))
    gw, = R.grad(loss, [w])
    np.testing.assert_allclose(gw(), 2 * x.T @ (x @ w0), rtol=1e-4, atol=1e-4)


def test_no_server_raises_server_unreachable(cluster):
    g = R.Graph("nowhere", server="ws://127.0.0.1:9", progress=False, reconnect_window=0.5)
    a = g.t([1]) + 1
    with pytest.raises(R.ServerUnreachable, match="cannot reach"):
        a()


def test_a_server_list_fails_over_to_the_server_that_answers(cluster):
    dead1, dead2 = f"ws://127.0.0.1:{harness.free_port()}", f"ws://127.0.0.1:{harness.free_port()}"
    g = R.Graph("failover", server=f"{dead1},{cluster.url}", progress=False)
    np.testing.assert_array_equal((g.t([1, 2]) + 1)(), [2, 3])
    g = R.Graph("nowhere-twice", server=f"{dead1},{dead2}", progress=False, reconnect_window=0.5)
    with pytest.raises(R.ServerUnreachable, match="cannot reach any of the Corvid servers") as error:
        (g.t([1]) + 1)()
    assert dead1 in str(error.value) and dead2 in str(error.value)


@pytest.fixture(scope="module")
def idle(cluster):
    """A second server without workers: waits on it last until they are stopped."""
    c = harness.Cluster(cluster.bins, "python-idle")
    try:
        yield c.start_server()
    finally:
        c.stop()


def test_the_gil_is_released_while_waiting_and_interrupt_stops_the_wait(idle):
    # This thread can interrupt the wait only if the waiting thread let go of the GIL.
    g = R.Graph("idle", server=idle.url, token=idle.token(), progress=False)
    v = g.t([1.0]) * 2
    g.flush()
    outcome = {}

    def wait():
        try:
            v()
        except R.RequestStopped as e:
            outcome["stopped"] = e

    t = threading.Thread(target=wait)
    t.start()
    ticks = 0
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:
        ticks += 1
    assert t.is_alive()
    g.interrupt()
    t.join(30)
    assert not t.is_alive() and "stopped" in outcome
    assert ticks > 1000


def test_ctrl_c_stops_a_wait_with_keyboard_interrupt(idle):
    program = ("import corvid as R, sys\n"
               "g = R.Graph('ctrl-c', progress=False)\n"
               "v = R.t([1.0]) * 2\n"
               "g.flush(); print('waiting', flush=True)\n"
               "try:\n    v()\nexcept KeyboardInterrupt:\n    print('interrupted', flush=True)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), CORVID_SERVER=idle.url, CORVID_TOKEN=idle.token())
    p = subprocess.Popen([sys.executable, "-c", program], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    assert p.stdout.readline().strip() == "waiting"
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0 and out.strip() == "interrupted", err


def test_progress_callback_sees_ops_computed(cluster):
    seen = []
    g = R.Graph("progress", progress=lambda computed, total: seen.append((computed, total)))
    x = R.t(np.ones((50, 50), np.float32))
    for _ in range(5):
        x = x @ x / 50
    x()
    g.end()
    assert seen and seen[-1][0] <= seen[-1][1]


def test_a_terminal_shows_a_tqdm_bar_while_waiting(cluster):
    program = ("import corvid as R, numpy as np\n"
               "g = R.Graph(name='bar')\n"
               "x = R.t(np.ones((60, 60), np.float32))\n"
               "for _ in range(20):\n    x = x @ x / 60\n"
               "print('value', x()[0, 0])\n"
               "print(g.end())\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    pid, fd = pty.fork()
    if pid == 0:  # the child: stdout and stderr are the terminal
        os.execve(sys.executable, [sys.executable, "-c", program], env)
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    text = out.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "value 1.0" in text and "61 of 61 ops computed" in text
    assert "bar:" in text and "/61" in text and "op/s" in text  # tqdm's bar: "bar:  34% 21/61 [...op/s]"


def test_a_batch_the_server_refuses_raises_server_error_naming_the_op(cluster):
    graph = R.Graph("refused", progress=False)  # its batch stays refused: no end()
    w = R.t([1.0, 2.0, 3.0])
    above = R.greater(w, 1.5)
    R.grad(R.sum(R.cast(above, np.float32)), w)
    with pytest.raises(R.ServerError, match=r"op 'o\d+': greater has no gradient") as e:
        graph.flush()
    assert e.value.op_id == above.id


def test_no_token_raises_no_token(cluster, monkeypatch, tmp_path):
    for name in ("CORVID_TOKEN", "CORVID_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    g = R.Graph("no-token", progress=False)
    a = g.t([1]) + 1
    with pytest.raises(R.NoToken, match="token") as e:
        a()
    assert isinstance(e.value, R.ServerError)


def test_indexing_with_integers_and_slices_matches_numpy(graph):
    x = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    X = R.t(x)
    keys = [1, -1, (0, 2), (slice(1, 3),), (slice(None), 1, slice(2, None)), (2, slice(-3, -1), 4), (slice(5, 9),)]
    got = graph.values([X[k] for k in keys])
    for k, g in zip(keys, got):
        np.testing.assert_array_equal(g, x[k], err_msg=str(k))
    with pytest.raises(IndexError):
        X[3]
    with pytest.raises(IndexError):
        X[::2]
