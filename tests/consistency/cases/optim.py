"""Consistency cases of the optim family (shared/ops/optim.cpp), with NumPy as the reference.

The references follow PyTorch's torch.optim.SGD (momentum, dampening 0) and torch.optim.Adam /
AdamW, written out in float64 and cast to the inputs' dtype:
- sgd_momentum(buf, g) = momentum buf + g; sgd_update(w, d) = w - lr d;
- adam_m(m, g) = beta1 m + (1 - beta1) g; adam_v(v, g) = beta2 v + (1 - beta2) g^2;
- adam_update(w, m, v) = (1 - lr wd) w - lr (m / c1) / (sqrt(v / c2) + eps), c_i = 1 - beta_i^step.
A short Adam run (adam_run) chains the three Adam ops over several steps as a training loop does,
and compares every step's parameters with torch's algorithm applied to the same gradients.
"""
import numpy as np

from common import CaseList, F32, F64


def sgd_momentum_ref(buf, g, momentum):
    return momentum * buf.astype(F64) + g


def sgd_update_ref(w, d, lr):
    return w.astype(F64) - lr * d.astype(F64)


def adam_m_ref(m, g, beta1=0.9):
    return beta1 * m.astype(F64) + (1 - beta1) * g.astype(F64)


def adam_v_ref(v, g, beta2=0.999):
    g = g.astype(F64)
    return beta2 * v.astype(F64) + (1 - beta2) * g * g


def adam_update_ref(w, m, v, lr, step, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    w, m, v = w.astype(F64), m.astype(F64), v.astype(F64)
    c1, c2 = 1 - beta1 ** step, 1 - beta2 ** step
    return (1 - lr * weight_decay) * w - lr * (m / c1) / (np.sqrt(v / c2) + eps)


def cases():
    case_list = CaseList(20261201)
    add = case_list.add
    f32, f64 = case_list.f32, case_list.f64

    def value(name, op, inputs, params, expected):
        dtype = inputs[0].dtype
        tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == F32 else {"rtol": 1e-12, "atol": 1e-14}
        add(name, op, inputs, params, np.asarray(expected).astype(dtype), **tol)

    shapes = [("scalar", ()), ("vector", (7,)), ("matrix", (33, 17)), ("nchw", (2, 3, 4, 5)), ("empty", (0, 3))]
    for shape_name, shape in shapes:
        for dtype_name, draw in (("f32", f32), ("f64", f64)):
            w, g, buf = draw(*shape), draw(*shape), draw(*shape)
            m = draw(*shape)
            v = np.asarray(np.abs(draw(*shape)))  # a second moment is never negative
            value(f"sgd_momentum/{shape_name}_{dtype_name}", "sgd_momentum", [buf, g], {"momentum": 0.9},
                  sgd_momentum_ref(buf, g, 0.9))
            value(f"sgd_update/{shape_name}_{dtype_name}", "sgd_update", [w, g], {"lr": 0.05},
                  sgd_update_ref(w, g, 0.05))
            value(f"adam_m/{shape_name}_{dtype_name}", "adam_m", [m, g], {}, adam_m_ref(m, g))
            value(f"adam_v/{shape_name}_{dtype_name}", "adam_v", [v, g], {}, adam_v_ref(v, g))
            value(f"adam_update/{shape_name}_{dtype_name}", "adam_update", [w, m, v], {"lr": 1e-3, "step": 3},
                  adam_update_ref(w, m, v, 1e-3, 3))

    # ---- params: non-default betas, eps, AdamW's decay, zero momentum and rate, a late step ----
    w, g, m, v = f32(40), f32(40), f32(40), np.abs(f32(40))
    value("sgd_momentum/zero_momentum_f32", "sgd_momentum", [m, g], {"momentum": 0}, sgd_momentum_ref(m, g, 0))
    value("sgd_update/zero_lr_f32", "sgd_update", [w, g], {"lr": 0}, w)
    value("adam_m/beta1_0.5_f32", "adam_m", [m, g], {"beta1": 0.5}, adam_m_ref(m, g, 0.5))
    value("adam_v/beta2_0.9_f32", "adam_v", [v, g], {"beta2": 0.9}, adam_v_ref(v, g, 0.9))
    params = {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6, "weight_decay": 0.1, "step": 1}
    value("adam_update/adamw_step1_f32", "adam_update", [w, m, v], params,
          adam_update_ref(w, m, v, 0.01, 1, 0.8, 0.99, 1e-6, 0.1))
    value("adam_update/step_10000_f32", "adam_update", [w, m, v], {"lr": 1e-3, "step": 10000},
          adam_update_ref(w, m, v, 1e-3, 10000))
    zeros = np.zeros(40, F32)
    value("adam_update/zero_v_f32", "adam_update", [w, m, zeros], {"lr": 1e-3, "step": 1, "eps": 1e-3},
          adam_update_ref(w, m, zeros, 1e-3, 1, eps=1e-3))

    # ---- a short Adam run: the ops chained over steps against torch's algorithm ----
    w = f64(5, 4)
    m, v = np.zeros_like(w), np.zeros_like(w)
    ref_w, ref_m, ref_v = w.copy(), m.copy(), v.copy()
    for step in range(1, 5):
        g = f64(5, 4)
        m_next, v_next = adam_m_ref(m, g), adam_v_ref(v, g)
        value(f"adam_m/run_step{step}_f64", "adam_m", [m, g], {}, m_next)
        value(f"adam_v/run_step{step}_f64", "adam_v", [v, g], {}, v_next)
        w_next = adam_update_ref(w, m_next, v_next, 0.1, step)
        value(f"adam_update/run_step{step}_f64", "adam_update", [w, m_next, v_next], {"lr": 0.1, "step": step}, w_next)
        # torch.optim.Adam's loop, written independently: state updated in place.
        ref_m = 0.9 * ref_m + 0.1 * g
        ref_v = 0.999 * ref_v + 0.001 * g * g
        denom = np.sqrt(ref_v) / np.sqrt(1 - 0.999 ** step) + 1e-8
        ref_w = ref_w - (0.1 / (1 - 0.9 ** step)) * ref_m / denom
        assert np.allclose(w_next, ref_w, rtol=1e-12, atol=1e-14), "adam_update_ref disagrees with torch's loop"
        w, m, v = w_next, m_next, v_next

    # ---- special values: NaN and infinities propagate as IEEE arithmetic says ----
    sp = case_list.specials(F32, 24)
    ordinary = f32(24)
    with np.errstate(all="ignore"):
        value("sgd_update/special_f32", "sgd_update", [sp, ordinary], {"lr": 0.5}, sgd_update_ref(sp, ordinary, 0.5))
        value("adam_m/special_f32", "adam_m", [ordinary, sp], {}, adam_m_ref(ordinary, sp))
        value("adam_update/special_f32", "adam_update", [ordinary, sp, np.abs(ordinary)], {"lr": 0.01, "step": 2},
              adam_update_ref(ordinary, sp, np.abs(ordinary), 0.01, 2))

    # ---- errors: dtypes, shapes, params ----
    a, b = f32(3), f32(3)
    add("sgd_update/error_int32", "sgd_update", [case_list.i32(3), case_list.i32(3)], {"lr": 0.1},
        error="input 0 (w) must be float32 or float64")
    add("sgd_update/error_dtype_mismatch", "sgd_update", [a, f64(3)], {"lr": 0.1},
        error="input 1 (d) must have the dtype of w (float32)")
    add("adam_update/error_shape_mismatch", "adam_update", [a, b, f32(4)], {"lr": 0.1, "step": 1},
        error="input 2 (v) must have the shape of w (3,), got (4,)")
    add("adam_m/error_broadcast", "adam_m", [f32(2, 3), f32(3)], {}, error="input 1 (g) must have the shape of m")
    add("sgd_update/error_no_lr", "sgd_update", [a, b], {}, error="param 'lr' is required")
    add("sgd_update/error_negative_lr", "sgd_update", [a, b], {"lr": -0.1}, error="param 'lr' must be a number in [0, 1e30)")
    add("sgd_momentum/error_momentum_1", "sgd_momentum", [a, b], {"momentum": 1}, error="param 'momentum' must be a number in [0, 1)")
    add("adam_v/error_beta2", "adam_v", [a, b], {"beta2": 1.5}, error="param 'beta2' must be a number in [0, 1)")
    add("adam_update/error_step_0", "adam_update", [a, b, b], {"lr": 0.1, "step": 0}, error="param 'step' must be at least 1")
    add("adam_update/error_step_float", "adam_update", [a, b, b], {"lr": 0.1, "step": 1.5}, error="param 'step'")
    add("adam_update/error_unknown_param", "adam_update", [a, b, b], {"lr": 0.1, "step": 1, "amsgrad": True},
        error="amsgrad")
    return case_list.cases
