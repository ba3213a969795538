"""Consistency cases of the nn family (shared/ops/nn.cpp), with NumPy as the reference.

The references are written out from the definitions (PyTorch's semantics), in float64, one
kernel position at a time over a padded copy of the input:
- conv2d: y[n, o, i, j] = sum_{c, ki, kj} xpad[n, c, i sh + ki dh, j sw + kj dw] w[o, c, ki, kj] + b[o];
  conv2d_backward_input and conv2d_backward_weight are its adjoints with respect to x and w;
- max_pool2d: the max over each window, padding never chosen; max_pool2d_backward routes g to the
  first largest element of each window (row-major in the window), summed where windows overlap;
- avg_pool2d: the window's sum over the kernel's area, padding counted (count_include_pad);
- cross_entropy: mean over rows of logsumexp(row) - row[label], logsumexp shifted by the row max.
float32 results accumulate in a different order: cases get an atol scaled to sqrt(terms). Small
images are convolved several per GEMM (their columns side by side): batches_partial covers a
last batch that is not full.
"""
import numpy as np

from common import CaseList


def pair(v, default):
    if v is None:
        return default
    return (v, v) if isinstance(v, int) else (tuple(v) * 2 if len(v) == 1 else tuple(v))


def geometry(params, kh, kw):
    s = pair(params.get("stride"), (1, 1))
    p = pair(params.get("padding"), (0, 0))
    d = pair(params.get("dilation"), (1, 1))
    return s, p, d


def out_len(n, k, s, p, d):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def window(xp, ki, kj, s, d, oh, ow):
    """xp[..., ki dh + i sh, kj dw + j sw] for every output position (i, j)."""
    r0, c0 = ki * d[0], kj * d[1]
    return xp[..., r0:r0 + s[0] * (oh - 1) + 1:s[0], c0:c0 + s[1] * (ow - 1) + 1:s[1]]


def conv2d_ref(x, w, b, params):
    x, w = x.astype(np.float64), w.astype(np.float64)
    kh, kw = w.shape[2:]
    s, p, d = geometry(params, kh, kw)
    oh, ow = out_len(x.shape[2], kh, s[0], p[0], d[0]), out_len(x.shape[3], kw, s[1], p[1], d[1])
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    y = np.zeros((x.shape[0], w.shape[0], oh, ow))
    for ki in range(kh):
        for kj in range(kw):
            y += np.einsum("nchw,oc->nohw", window(xp, ki, kj, s, d, oh, ow), w[:, :, ki, kj])
    if b is not None:
        y += b.astype(np.float64)[None, :, None, None]
    return y


def conv2d_backward_input_ref(g, w, params):
    g, w = g.astype(np.float64), w.astype(np.float64)
    kh, kw = w.shape[2:]
    s, p, d = geometry(params, kh, kw)
    h, wd = params["input_size"]
    oh, ow = g.shape[2:]
    xp = np.zeros((g.shape[0], w.shape[1], h + 2 * p[0], wd + 2 * p[1]))
    for ki in range(kh):
        for kj in range(kw):
            window(xp, ki, kj, s, d, oh, ow)[...] += np.einsum("nohw,oc->nchw", g, w[:, :, ki, kj])
    return xp[:, :, p[0]:p[0] + h, p[1]:p[1] + wd]


def conv2d_backward_weight_ref(x, g, params):
    x, g = x.astype(np.float64), g.astype(np.float64)
    kh, kw = params["kernel_size"]
    s, p, d = geometry(params, kh, kw)
    oh, ow = g.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    dw = np.zeros((g.shape[1], x.shape[1], kh, kw))
    for ki in range(kh):
        for kj in range(kw):
            dw[:, :, ki, kj] = np.einsum("nohw,nchw->oc", g, window(xp, ki, kj, s, d, oh, ow))
    return dw


def pool_geometry(params):
    k = pair(params["kernel"], None)
    s = pair(params.get("stride"), k)
    p = pair(params.get("padding"), (0, 0))
    return k, s, p


def pool_windows(x, params, fill):
    """The windows stacked on a new axis 0 (kernel positions in row-major order), padding = fill."""
    k, s, p = pool_geometry(params)
    oh, ow = out_len(x.shape[2], k[0], s[0], p[0], 1), out_len(x.shape[3], k[1], s[1], p[1], 1)
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])), constant_values=fill)
    return np.stack([window(xp, ki, kj, s, (1, 1), oh, ow) for ki in range(k[0]) for kj in range(k[1])]), xp


def max_pool2d_ref(x, params):
    return pool_windows(x, params, -np.inf)[0].max(axis=0)


def avg_pool2d_ref(x, params):
    k = pool_geometry(params)[0]
    return pool_windows(x, params, 0.0)[0].sum(axis=0) / (k[0] * k[1])


def max_pool2d_backward_ref(x, g, params):
    k, s, p = pool_geometry(params)
    wins, xp = pool_windows(x, params, -np.inf)
    arg = wins.argmax(axis=0)  # first largest
    dxp = np.zeros_like(xp)
    oh, ow = g.shape[2:]
    for idx in range(k[0] * k[1]):
        ki, kj = divmod(idx, k[1])
        window(dxp, ki, kj, s, (1, 1), oh, ow)[...] += np.where(arg == idx, g.astype(np.float64), 0.0)
    return dxp[:, :, p[0]:p[0] + x.shape[2], p[1]:p[1] + x.shape[3]]


def avg_pool2d_backward_ref(g, params):
    k, s, p = pool_geometry(params)
    h, wd = params["input_size"]
    oh, ow = g.shape[2:]
    dxp = np.zeros((g.shape[0], g.shape[1], h + 2 * p[0], wd + 2 * p[1]))
    for ki in range(k[0]):
        for kj in range(k[1]):
            window(dxp, ki, kj, s, (1, 1), oh, ow)[...] += g.astype(np.float64) / (k[0] * k[1])
    return dxp[:, :, p[0]:p[0] + h, p[1]:p[1] + wd]


def cross_entropy_ref(logits, labels):
    x = logits.astype(np.float64)
    m = x.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(x - m).sum(axis=1, keepdims=True)))[:, 0]
    return (lse - x[np.arange(x.shape[0]), labels]).mean()


def cases():
    case_list = CaseList(20261130)
    add = case_list.add
    f32, f64 = case_list.f32, case_list.f64

    def value(name, op, inputs, params, expected, terms):
        """A value case in the dtype of the float inputs (float64 if any), atol scaled to sqrt(terms)."""
        dtype = np.float64 if any(a.dtype == np.float64 for a in inputs) else np.float32
        tol = {"rtol": 1e-5, "atol": 4e-6 * max(1.0, np.sqrt(terms))} if dtype == np.float32 else {}
        add(name, op, inputs, params, np.asarray(expected).astype(dtype), **tol)

    # ---- conv2d and its adjoints: strides, padding, dilation, batches, GEMM tile edges ----
    conv_shapes = [  # name, x (N, C, H, W), w (O, C, kh, kw), params
        ("1x1", (1, 1, 1, 1), (1, 1, 1, 1), {}),
        ("3x3", (2, 3, 8, 8), (4, 3, 3, 3), {}),
        ("pad1", (2, 3, 8, 8), (5, 3, 3, 3), {"stride": [1, 1], "padding": [1, 1]}),
        ("stride2_pad1", (3, 2, 9, 7), (4, 2, 3, 3), {"stride": [2, 2], "padding": [1, 1]}),
        ("stride_hw", (1, 2, 10, 9), (3, 2, 2, 3), {"stride": [3, 2], "padding": [0, 1]}),
        ("dilation2", (2, 2, 9, 9), (3, 2, 3, 3), {"padding": [2, 2], "dilation": [2, 2]}),
        ("scalar_params", (1, 3, 7, 7), (2, 3, 3, 3), {"stride": 2, "padding": 1, "dilation": 1}),
        ("rect_kernel", (2, 1, 6, 11), (2, 1, 1, 5), {"padding": [0, 2]}),
        ("kernel_eq_input", (2, 3, 5, 5), (6, 3, 5, 5), {}),
        ("wide", (2, 16, 20, 20), (32, 16, 3, 3), {"padding": [1, 1]}),
        ("empty_batch", (0, 2, 4, 4), (3, 2, 3, 3), {}),
        # 4x4 outputs: 64 images per GEMM, so 70 images make a full batch and a partial one.
        ("batches_partial", (70, 2, 4, 4), (3, 2, 3, 3), {"padding": [1, 1]}),
    ]
    for name, xs, ws, params in conv_shapes:
        x, w, b = f32(*xs), f32(*ws), f32(ws[0])
        terms = ws[1] * ws[2] * ws[3]
        y = conv2d_ref(x, w, None, params)
        value(f"conv2d/{name}_f32", "conv2d", [x, w], params, y, terms)
        value(f"conv2d/{name}_bias_f32", "conv2d", [x, w, b], params, conv2d_ref(x, w, b, params), terms)
        g = f32(*y.shape)
        value(f"conv2d_backward_input/{name}_f32", "conv2d_backward_input", [g, w],
              {**params, "input_size": list(xs[2:])}, conv2d_backward_input_ref(g, w, {**params, "input_size": xs[2:]}),
              ws[0] * ws[2] * ws[3])
        value(f"conv2d_backward_weight/{name}_f32", "conv2d_backward_weight", [x, g],
              {**params, "kernel_size": list(ws[2:])}, conv2d_backward_weight_ref(x, g, {**params, "kernel_size": ws[2:]}),
              xs[0] * y.shape[2] * y.shape[3])
    x, w, b = f64(2, 3, 7, 6), f64(4, 3, 3, 2), f64(4)
    params = {"stride": [2, 1], "padding": [1, 1], "dilation": [1, 2]}
    value("conv2d/f64", "conv2d", [x, w, b], params, conv2d_ref(x, w, b, params), 1)
    value("conv2d/f32_f64_promotes", "conv2d", [x.astype(np.float32), w], params,
          conv2d_ref(x.astype(np.float32), w, None, params), 1)
    g = f64(*conv2d_ref(x, w, None, params).shape)
    value("conv2d_backward_input/f64", "conv2d_backward_input", [g, w], {**params, "input_size": [7, 6]},
          conv2d_backward_input_ref(g, w, {**params, "input_size": (7, 6)}), 1)
    value("conv2d_backward_weight/f64", "conv2d_backward_weight", [x, g], {**params, "kernel_size": [3, 2]},
          conv2d_backward_weight_ref(x, g, {**params, "kernel_size": (3, 2)}), 1)
    # Errors.
    add("conv2d/x_not_4d", "conv2d", [f32(3, 8, 8), f32(4, 3, 3, 3)], error="input 0 (x) must be 4-d NCHW")
    add("conv2d/channels", "conv2d", [f32(1, 3, 8, 8), f32(4, 2, 3, 3)],
        error="the channels do not match: x (1, 3, 8, 8) has 3, w (4, 2, 3, 3) expects 2")
    add("conv2d/int32", "conv2d", [case_list.i32(1, 1, 3, 3), f32(1, 1, 2, 2)],
        error="input 0 (x) must be float32 or float64, got int32")
    add("conv2d/bias_shape", "conv2d", [f32(1, 3, 8, 8), f32(4, 3, 3, 3), f32(3)],
        error="bias must have shape (4,)")
    add("conv2d/kernel_too_large", "conv2d", [f32(1, 1, 4, 4), f32(1, 1, 5, 3)],
        error="the height of the kernel (5) exceeds the padded input's (4)")
    add("conv2d/stride_zero", "conv2d", [f32(1, 1, 4, 4), f32(1, 1, 3, 3)], {"stride": [0, 1]},
        error="param 'stride' must be at least 1")
    add("conv2d/padding_three", "conv2d", [f32(1, 1, 4, 4), f32(1, 1, 3, 3)], {"padding": [1, 1, 1]},
        error="param 'padding' must have two elements (height, width)")
    add("conv2d/one_input", "conv2d", [f32(1, 1, 4, 4)], error="expects 2 to 3 input(s), got 1")
    add("conv2d_backward_input/mismatch", "conv2d_backward_input", [f32(1, 2, 3, 3), f32(2, 1, 3, 3)],
        {"input_size": [6, 6]}, error="an input of 6x6 gives a 4x4 output, but g is (1, 2, 3, 3)")
    add("conv2d_backward_weight/no_size", "conv2d_backward_weight", [f32(1, 1, 5, 5), f32(1, 2, 3, 3)],
        error="param 'kernel_size' is required")

    # ---- pooling ----
    pool_cases = [  # name, x shape, params
        ("2x2", (2, 3, 8, 8), {"kernel": [2, 2]}),
        ("3x3_stride1", (1, 2, 7, 6), {"kernel": [3, 3], "stride": [1, 1]}),
        ("3x3_stride2_pad1", (2, 2, 9, 8), {"kernel": 3, "stride": 2, "padding": 1}),
        ("rect", (1, 3, 6, 10), {"kernel": [2, 3], "stride": [2, 1], "padding": [1, 1]}),
        ("odd_floor", (2, 1, 7, 7), {"kernel": [2, 2]}),
        ("global", (3, 4, 5, 5), {"kernel": [5, 5]}),
    ]
    for name, xs, params in pool_cases:
        x = f32(*xs)
        k = pool_geometry(params)[0]
        y = max_pool2d_ref(x, params)
        value(f"max_pool2d/{name}_f32", "max_pool2d", [x], params, y, 1)
        value(f"avg_pool2d/{name}_f32", "avg_pool2d", [x], params, avg_pool2d_ref(x, params), k[0] * k[1])
        g = f32(*y.shape)
        value(f"max_pool2d_backward/{name}_f32", "max_pool2d_backward", [x, g], params,
              max_pool2d_backward_ref(x, g, params), k[0] * k[1])
        value(f"avg_pool2d_backward/{name}_f32", "avg_pool2d_backward", [g], {**params, "input_size": list(xs[2:])},
              avg_pool2d_backward_ref(g, {**params, "input_size": xs[2:]}), k[0] * k[1])
    x = f64(2, 2, 6, 6)
    params = {"kernel": [3, 3], "stride": [2, 2], "padding": [1, 1]}
    value("max_pool2d/f64", "max_pool2d", [x], params, max_pool2d_ref(x, params), 1)
    value("avg_pool2d/f64", "avg_pool2d", [x], params, avg_pool2d_ref(x, params), 1)
    # Ties go to the first element of the window; NaN propagates.
    ties = np.array([[[[1, 1, 0, 2], [0, 1, 2, 2], [3, 3, 3, 3], [3, 3, 3, 3]]]], np.float32)
    g = f32(1, 1, 2, 2)
    value("max_pool2d_backward/ties_first", "max_pool2d_backward", [ties, g], {"kernel": [2, 2]},
          max_pool2d_backward_ref(ties, g, {"kernel": [2, 2]}), 1)
    nan = np.array([[[[1, np.nan, 0, 2], [0, 1, 2, 2], [3, 3, 3, 3], [3, 3, 3, 3]]]], np.float32)
    add("max_pool2d/special_nan", "max_pool2d", [nan], {"kernel": [2, 2]},
        np.array([[[[np.nan, 2], [3, 3]]]], np.float32))
    add("max_pool2d/special_inf", "max_pool2d", [np.array([[[[-np.inf, -np.inf], [-np.inf, -np.inf]]]], np.float32)],
        {"kernel": 2}, np.full((1, 1, 1, 1), -np.inf, np.float32))
    # Errors.
    add("max_pool2d/no_kernel", "max_pool2d", [f32(1, 1, 4, 4)], error="param 'kernel' is required")
    add("avg_pool2d/padding_over_half", "avg_pool2d", [f32(1, 1, 4, 4)], {"kernel": [2, 2], "padding": [2, 0]},
        error="must be at most half the kernel (2x2)")
    add("max_pool2d/not_4d", "max_pool2d", [f32(4, 4)], {"kernel": 2}, error="input must be 4-d NCHW")
    add("avg_pool2d/kernel_too_large", "avg_pool2d", [f32(1, 1, 4, 4)], {"kernel": [2, 5]},
        error="the width of the kernel (5) exceeds the padded input's (4)")
    add("max_pool2d_backward/g_shape", "max_pool2d_backward", [f32(1, 1, 4, 4), f32(1, 1, 3, 3)], {"kernel": 2},
        error="g must have max_pool2d's output shape (1, 1, 2, 2)")

    # ---- cross_entropy ----
    for n, c in [(1, 1), (4, 3), (32, 10), (100, 7)]:
        logits = f32(n, c) * 3
        labels = case_list.i32(n, low=0, high=c)
        value(f"cross_entropy/{n}x{c}_f32", "cross_entropy", [logits, labels], {}, cross_entropy_ref(logits, labels), c)
    logits, labels = f64(16, 5), case_list.i32(16, low=0, high=5)
    value("cross_entropy/f64", "cross_entropy", [logits, labels], {}, cross_entropy_ref(logits, labels), 1)
    big = np.array([[1000.0, -1000.0, 999.0], [-500.0, -501.0, -700.0]], np.float32)
    labels = np.array([2, 0], np.int32)
    value("cross_entropy/stable_large_logits", "cross_entropy", [big, labels], {}, cross_entropy_ref(big, labels), 3)
    add("cross_entropy/empty_batch", "cross_entropy", [f32(0, 3), np.zeros(0, np.int32)], {},
        np.array(np.nan, np.float32))
    add("cross_entropy/label_out_of_range", "cross_entropy", [f32(3, 4), np.array([0, 4, 1], np.int32)],
        error="label 4 at index 1 is out of range for 4 classes")
    add("cross_entropy/negative_label", "cross_entropy", [f32(2, 4), np.array([0, -1], np.int32)],
        error="label -1 at index 1 is out of range")
    add("cross_entropy/float_labels", "cross_entropy", [f32(2, 4), f32(2)], error="labels must be int32, got float32")
    add("cross_entropy/labels_shape", "cross_entropy", [f32(2, 4), np.zeros(3, np.int32)],
        error="labels must have shape (2,)")
    add("cross_entropy/logits_1d", "cross_entropy", [f32(4), np.zeros(4, np.int32)],
        error="logits must be 2-d (batch, classes)")
    return case_list.cases
