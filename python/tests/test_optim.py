"""The optimizers (R.SGD, R.Adam) through a real server and worker: a least-squares fit trained
for a few steps matches NumPy's SGD-with-momentum and Adam (torch.optim's algorithms written out)
on the same gradients, the loss falls, the Values given are rebound to the new parameters, and
bad use is refused at once."""

import numpy as np
import pytest

import corvid as R

rng = np.random.default_rng(12)
X = rng.standard_normal((16, 3))
TRUE_W = np.array([[1.5], [-2.0], [0.5]])
Y = X @ TRUE_W + 0.01 * rng.standard_normal((16, 1))
W0 = rng.standard_normal((3, 1))
B0 = np.zeros(1)


def numpy_grads(w, b):
    """The gradients of mean((X w + b - Y)^2) with respect to w and b."""
    r = X @ w + b - Y
    return 2 * X.T @ r / len(X), np.array([2 * r.sum() / len(X)])


def numpy_loss(w, b):
    return float(np.mean((X @ w + b - Y) ** 2))


@pytest.fixture
def graph(cluster, request):
    g = R.Graph(name=request.node.name[:60], progress=False)
    yield g
    report = g.end()
    assert report.status == "computed", report


def train(opt, w, b, steps):
    """Runs `steps` optimizer steps on the workers; returns the losses seen (one per step)."""
    x, y = R.t(X), R.t(Y)
    losses = []
    for _ in range(steps):
        loss = R.mean(R.square(R.matmul(x, w) + b - y))
        opt.step(loss)
        losses.append(float(loss()))  # only the loss comes back each step
    return losses


def test_sgd_with_momentum_matches_numpy_and_converges(graph):
    w, b = R.t(W0), R.t(B0)
    first_id = w.id
    opt = R.SGD([w, b], lr=0.05, momentum=0.9)
    losses = train(opt, w, b, 25)
    assert w.id != first_id, "step() rebinds the Values it was given"
    assert opt.steps == 25
    ref_w, ref_b, buf_w, buf_b, ref_losses = W0.copy(), B0.copy(), np.zeros_like(W0), np.zeros_like(B0), []
    for _ in range(25):
        ref_losses.append(numpy_loss(ref_w, ref_b))
        gw, gb = numpy_grads(ref_w, ref_b)
        buf_w, buf_b = 0.9 * buf_w + gw, 0.9 * buf_b + gb
        ref_w, ref_b = ref_w - 0.05 * buf_w, ref_b - 0.05 * buf_b
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-9)
    np.testing.assert_allclose(w(), ref_w, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b(), ref_b, rtol=1e-9, atol=1e-12)
    assert losses[-1] < 0.05 * losses[0]


def test_adam_matches_numpy_and_converges(graph):
    w, b = R.t(W0), R.t(B0)
    opt = R.Adam([w, b], lr=0.1)
    losses = train(opt, w, b, 40)
    ref = [W0.copy(), B0.copy()]
    m, v = [np.zeros_like(p) for p in ref], [np.zeros_like(p) for p in ref]
    ref_losses = []
    for t in range(1, 41):
        ref_losses.append(numpy_loss(*ref))
        for i, g in enumerate(numpy_grads(*ref)):
            m[i] = 0.9 * m[i] + 0.1 * g
            v[i] = 0.999 * v[i] + 0.001 * g * g
            m_hat, v_hat = m[i] / (1 - 0.9 ** t), v[i] / (1 - 0.999 ** t)
            ref[i] = ref[i] - 0.1 * m_hat / (np.sqrt(v_hat) + 1e-8)
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-9)
    np.testing.assert_allclose(w(), ref[0], rtol=1e-9, atol=1e-12)
    assert losses[-1] < 0.05 * losses[0]


def test_adamw_decay_and_given_gradients(graph):
    """step([g, ...]) applies gradients computed elsewhere (here a constant one), with AdamW's decay."""
    w = R.t(np.ones(4))
    opt = R.Adam([w], lr=0.01, weight_decay=0.5)
    g = R.t(np.full(4, 2.0))
    assert opt.step([g]) is None
    opt.step([g])
    ref, m, v = np.ones(4), np.zeros(4), np.zeros(4)
    for t in (1, 2):
        m, v = 0.9 * m + 0.1 * 2.0, 0.999 * v + 0.001 * 4.0
        ref = (1 - 0.01 * 0.5) * ref - 0.01 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    np.testing.assert_allclose(w(), ref, rtol=1e-12)
    assert [p.same(w) for p in opt.params] == [True]


def test_bad_use_is_refused_at_once():
    g = R.Graph(name="optim refusals", progress=False)
    w = R.t(np.ones(3, np.float32))
    with pytest.raises(ValueError, match="lr must be in"):
        R.SGD([w], lr=-1)
    with pytest.raises(ValueError, match="beta2 must be in"):
        R.Adam([w], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match=r"parameter 0 \(o\d+\) is int32, not a float"):
        R.SGD([R.t([1, 2, 3])], lr=0.1)
    with pytest.raises(TypeError, match="must be Values"):
        R.SGD([np.ones(3)], lr=0.1)
    opt = R.SGD([w], lr=0.1)
    with pytest.raises(ValueError, match="2 gradients for 1 parameters"):
        opt.step([w, w])
    with pytest.raises(ValueError, match=r"the gradient of parameter 0 \(o\d+\) must have its dtype and shape"):
        opt.step([R.t(np.ones(4, np.float32))])
    assert opt.steps == 0
    del g
