"""Corvid from Python: graphs of tensor ops computed by volunteers' browsers and native workers.

    import corvid as R
    algo = R.Graph(name='test', approach='distributed')
    a = R.t([1, 2, 3])
    b = R.t([5, 22, 7])
    c = a + b
    print('c: ', c())          # a NumPy array: sends the ops, waits for the workers
    algo.end()                  # the report: ops computed, failed ops and why

Every op of the op table is a function of this module, generated at import from the table
(``R.exp(a)``, ``R.sum(a, axis=1, keepdims=True)``, ``R.matmul(a, b)``, ``R.concat([a, b], 1)``),
under its name and its aliases. Arrays go in and come out as NumPy arrays (float32, float64,
int32, bool) through the buffer protocol. Errors are exceptions naming the op: GraphError (a bad
op, at once), OpFailed (an op failed on the workers), ServerError, ServerUnreachable, NoToken.
"""

import builtins  # the module's own abs, max, min, pow, slice and sum are ops
import json
import sys

import numpy as np

from . import _corvid
from ._corvid import (CorvidError, GraphError, NoToken, OpFailed, RequestStopped, ServerError,
                      ServerUnreachable, Value)

__all__ = ["Graph", "Value", "Report", "MapJob", "MapOutcome", "t", "lin", "grad", "SGD", "Adam", "op", "op_table", "CorvidError", "GraphError",
           "NoToken", "OpFailed", "RequestStopped", "ServerError", "ServerUnreachable"]

DTYPES = tuple(_corvid.dtype_names())  # ('float32', 'float64', 'int32', 'bool')


# ---- arrays in ----

def _dtype_name(dtype):
    """'float32' for np.float32, np.dtype('float32'), 'float32', float, ..."""
    if isinstance(dtype, str) and dtype in ("float", "double", "int"):
        return dtype
    name = np.dtype(dtype).name
    if name not in DTYPES:
        raise TypeError(f"corvid: unsupported dtype {name} (Corvid's dtypes are {', '.join(DTYPES)})")
    return name


def _array(x, dtype=None):
    """A C-contiguous ndarray of one of Corvid's dtypes. Python numbers and lists follow the graph
    file's rules (integers int32, floating values float32, bools bool); NumPy arrays keep float32,
    float64, int32 and bool, and other integer arrays become int32 when their values fit."""
    if dtype is not None:
        return np.ascontiguousarray(x, dtype=np.dtype(_dtype_name(dtype)))
    a = np.asarray(x)
    from_python = not isinstance(x, (np.ndarray, np.generic))
    if a.dtype.kind == "f" and (from_python or a.dtype == np.float16):
        a = a.astype(np.float32)
    elif a.dtype.kind in "iu" and a.dtype != np.int32:
        if a.size and (a.min() < -2**31 or a.max() >= 2**31):
            raise OverflowError(f"corvid: {a.dtype} values outside int32's range")
        a = a.astype(np.int32)
    elif a.dtype.name not in DTYPES:
        raise TypeError(f"corvid: unsupported dtype {a.dtype} (Corvid's dtypes are {', '.join(DTYPES)})")
    return np.ascontiguousarray(a)


def _graph(graph=None):
    return graph if graph is not None else _corvid.current_graph()


def t(value, dtype=None, graph=None):
    """A tensor op holding `value` (a number, a nested list or an array), on `graph` (default: the
    current graph, the Graph created last and not yet garbage)."""
    return _graph(graph).tensor(_array(value, dtype))


lin = t  # RavOp's name for a scalar tensor


def _as_value(x, like, graph):
    """An op input: a Value as is; a Python number next to a Value takes that Value's dtype when it
    fits (as in libcorvid); anything else becomes a tensor op."""
    if isinstance(x, Value):
        return x
    if like is not None and isinstance(x, (bool, np.bool_)) and like.dtype == "bool":
        return graph.tensor(np.array(bool(x)))
    if like is not None and isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool):
        return _corvid.scalar_like(like, float(x))
    return graph.tensor(_array(x))


def _param(value):
    """A param as JSON: dtypes by name, NumPy scalars and arrays as numbers and lists."""
    if isinstance(value, (np.dtype, type)):
        return _dtype_name(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"corvid: a param cannot be {type(value).__name__}")


def op(name, inputs=(), params=None, graph=None):
    """Records op `name` (a name or alias of the op table) with `inputs` and `params` (a dict) on
    the graph of the first Value input (else `graph`, else the current graph). Non-Value inputs
    become tensor ops. Raises GraphError naming the op at once when the op is invalid."""
    like = next((x for x in inputs if isinstance(x, Value)), None)
    if graph is None:
        graph = like.graph if like is not None else _corvid.current_graph()
    values = [_as_value(x, like, graph) for x in inputs]
    text = json.dumps(params or {}, default=_param)
    return graph.op(name, values, text)


def grad(loss, w):
    """The gradient of `loss` (a float scalar) with respect to `w`, or a list of gradients when `w`
    is a list; the server expands it into a backward pass. Build the loss and its grads before
    asking for any value (they travel in one batch)."""
    if isinstance(w, (list, tuple)):
        return [_corvid.grad(loss, x) for x in w]
    return _corvid.grad(loss, w)


# ---- optimizers: updates as graph ops, state kept on the workers ----

def SGD(params, lr, momentum=0.0):
    """Stochastic gradient descent over `params` (a list of float Values of one graph), with
    momentum as torch.optim.SGD. ``opt.step(loss)`` records the grads of `loss` and the update
    ops, rebinds every Value of `params` to its new value (as torch updates tensors in place) and
    returns the grads; ``opt.step([g, ...])`` applies given gradients. Raises ValueError for a
    bad rate."""
    return _corvid.sgd(list(params), float(lr), float(momentum))


def Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    """Adam with bias correction as torch.optim.Adam (AdamW's decoupled decay with
    weight_decay > 0), over `params` as SGD. Raises ValueError for a bad hyperparameter."""
    return _corvid.adam(list(params), float(lr), float(betas[0]), float(betas[1]), float(eps),
                        float(weight_decay))


# ---- every op of the table as a function ----

def op_table():
    """The op table: a list of dicts with name, aliases, min_inputs, max_inputs (-1: any number),
    family and params [(name, type, meaning)]."""
    return _corvid.op_table()


def _is_input(x):
    return isinstance(x, (Value, np.ndarray))


def _make_op_function(row):
    name, lo, hi = row["name"], row["min_inputs"], row["max_inputs"]
    param_names = [p[0] for p in row["params"]]

    def fn(*args, graph=None, **params):
        args = list(args)
        if hi == -1:  # one list of inputs (concat, stack)
            inputs = list(args.pop(0)) if args else []
        else:
            # The first min_inputs arguments are inputs; the optional ones after them are inputs
            # when they are Values or arrays, params otherwise.
            inputs = []
            while args and len(inputs) < hi and (len(inputs) < lo or _is_input(args[0])):
                inputs.append(args.pop(0))
        if len(args) > len(param_names):
            raise TypeError(f"{name}() takes at most {len(param_names)} params after its inputs "
                            f"({', '.join(param_names) or 'none'}), got {len(args)}")
        for pname, value in zip(param_names, args):
            if pname in params:
                raise TypeError(f"{name}() got param '{pname}' twice")
            params[pname] = value
        return op(name, inputs, {k: v for k, v in params.items() if v is not None}, graph)

    params_doc = ", ".join(f"{p[0]}: {p[1]}" for p in row["params"]) or "none"
    inputs_doc = ("a list of inputs" if hi == -1 else "1 input" if lo == hi == 1 else
                  f"{lo} inputs" if lo == hi else f"{lo} to {hi} inputs")
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"The op '{name}' ({row['family']}): {inputs_doc}, then params in this order or by "
                  f"name ({params_doc}). Inputs that are not Values become tensors.")
    return fn


def _define_op_functions():
    module = sys.modules[__name__]
    names = []
    for row in _corvid.op_table():
        fn = _make_op_function(row)
        for n in [row["name"], *row["aliases"]]:
            if n in ("grad", "t", "lin", "op"):  # written by hand above
                continue
            setattr(module, n, fn)
            names.append(n)
    return names


OP_NAMES = _define_op_functions()
__all__ += OP_NAMES


# ---- Value: operators, calling for the value, NumPy interop ----

def _binary(name, reflected=False):
    if reflected:
        return lambda self, other: op(name, [other, self])
    return lambda self, other: op(name, [self, other])


for _dunder, _name in [("add", "add"), ("sub", "sub"), ("mul", "mul"), ("truediv", "div"), ("pow", "pow"),
                       ("matmul", "matmul"), ("and", "logical_and"), ("or", "logical_or"),
                       ("xor", "logical_xor")]:
    setattr(Value, f"__{_dunder}__", _binary(_name))
    setattr(Value, f"__r{_dunder}__", _binary(_name, reflected=True))
for _dunder, _name in [("lt", "less"), ("le", "less_equal"), ("gt", "greater"), ("ge", "greater_equal")]:
    setattr(Value, f"__{_dunder}__", _binary(_name))
for _dunder, _name in [("neg", "neg"), ("pos", "pos"), ("abs", "abs"), ("invert", "logical_not")]:
    setattr(Value, f"__{_dunder}__", (lambda n: lambda self: op(n, [self]))(_name))
del _dunder, _name

# == and hash compare handles (as in C++), so Values can key dicts; eq/ne are element-wise.
Value.__eq__ = lambda self, other: isinstance(other, Value) and self.same(other)
Value.__ne__ = lambda self, other: not Value.__eq__(self, other)
Value.__hash__ = lambda self: self.hash()
Value.eq = lambda self, other: op("equal", [self, other])
Value.ne = lambda self, other: op("not_equal", [self, other])
Value.__call__ = lambda self: self.value()
Value.__array__ = lambda self, dtype=None: np.asarray(self.value(), dtype=dtype)
Value.__array_ufunc__ = None  # ndarray + Value calls Value.__radd__ instead of looping
Value.ndim = property(lambda self: len(self.shape))


def _getitem(self, key):
    """v[i], v[a:b], v[i, a:b]: integers and slices without a step, as NumPy's basic indexing;
    a slice op, then a reshape dropping the axes given by an integer."""
    key = key if isinstance(key, tuple) else (key,)
    if len(key) > len(self.shape):
        raise IndexError(f"too many indices: {len(key)} for a value with {len(self.shape)} dimensions")
    begin, size, shape = [], [], []
    for axis, dim in enumerate(self.shape):
        k = key[axis] if axis < len(key) else builtins.slice(None)
        if dim < 0:
            raise IndexError(f"corvid: axis {axis} has a size known only once computed")
        if isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_)):
            i = int(k) + (dim if k < 0 else 0)
            if not 0 <= i < dim:
                raise IndexError(f"index {int(k)} is out of bounds for axis {axis} with size {dim}")
            begin.append(i)
            size.append(1)
        elif isinstance(k, builtins.slice):
            start, stop, step = k.indices(dim)
            if step != 1:
                raise IndexError("corvid: slices with a step are not supported")
            begin.append(start)
            size.append(builtins.max(0, stop - start))
            shape.append(size[-1])
        else:
            raise IndexError(f"corvid: index {k!r} is not supported (integers and slices without a step)")
    v = op("slice", [self], {"begin": begin, "size": size})
    return v if len(shape) == len(self.shape) else op("reshape", [v], {"shape": shape})


Value.__getitem__ = _getitem


# ---- Graph and its report ----

class Report:
    """What Graph.end() returns: status, op counts by status, total, failed ops (dicts with id, op,
    error), and verification: how the server verified volunteers' results (a dict with policy,
    replicated, spot_checked, disagreements, wrong, quarantines; None from older servers)."""

    def __init__(self, d):
        self.graph_id, self.status, self.counts = d["graph_id"], d["status"], d["counts"]
        self.total, self.failed, self._text = d["total"], d["failed"], d["text"]
        self.verification = d.get("verification")

    @property
    def ok(self):
        return not self.failed and self.status == "computed"

    def __str__(self):
        return self._text

    def __repr__(self):
        return f"<Report {self._text.splitlines()[0]}>"


class _TqdmProgress:
    """Draws the ops computed while a graph waits, with tqdm (on stderr)."""

    def __init__(self, name):
        self.name, self.bar = name, None

    def __call__(self, computed, total):
        from tqdm import tqdm
        if self.bar is None:
            self.bar = tqdm(total=total, desc=self.name, unit="op", leave=False, file=sys.stderr)
        self.bar.total = total
        self.bar.update(computed - self.bar.n)
        if computed >= total:
            self.bar.close()
            self.bar = None


class Graph(_corvid.Graph):
    """A graph of ops computed by the server's workers; the current graph (for t() and the sources)
    from its creation until it is garbage.

    server: ws://host:port, or several comma-separated to fail over between (default $CORVID_SERVER,
    else ws://localhost:9999); token: default
    $CORVID_TOKEN or the data directory's token file; progress: a callable(computed, total), False
    for none, or None for a tqdm bar while waiting when stderr is a terminal; reconnect_window: how
    many seconds a lost connection is retried (default 120). `approach` is RavOp's;
    Corvid computes every graph in a distributed way."""

    def __init__(self, name="graph", approach="distributed", server=None, token=None, owner=None, progress=None,
                 reconnect_window=None):
        if approach != "distributed":
            raise ValueError(f"corvid: approach '{approach}' is not supported (only 'distributed')")
        if progress is None and sys.stderr is not None and sys.stderr.isatty():
            progress = _TqdmProgress(name)
        super().__init__(name, server or "", token, owner or "", progress or None, reconnect_window)

    def t(self, value, dtype=None):
        return t(value, dtype, self)

    def end(self):
        """Sends what is buffered, waits until every op is final, returns the Report."""
        return Report(super().end())

    def values(self, values):
        """The values of several ops (ndarrays), with one round trip."""
        return super().values(list(values))

    def __repr__(self):
        return f"<corvid.Graph '{self.name}' id {self.id}, {len(self)} ops>"


# ---- map jobs ----

class MapOutcome:
    """What MapJob.run() returns: results by slice (None for slices without one), failed
    [(slice, error)], computed, timed_out, cancelled."""

    def __init__(self, d):
        self.results, self.failed, self.computed = d["results"], d["failed"], d["computed"]
        self.timed_out, self.cancelled = d["timed_out"], d["cancelled"]

    @property
    def ok(self):
        return self.computed == len(self.results)

    def __repr__(self):
        return (f"<MapOutcome {self.computed} of {len(self.results)} slices computed, {len(self.failed)} failed"
                f"{', timed out' if self.timed_out else ''}{', cancelled' if self.cancelled else ''}>")


class _TqdmSlices:
    """A tqdm bar of the slices computed while a map job runs (on stderr)."""

    def __init__(self, name):
        self.name, self.bar = name, None

    def __call__(self, status):
        from tqdm import tqdm
        if self.bar is None:
            self.bar = tqdm(total=status["slices"], desc=self.name, unit="slice", file=sys.stderr)
        self.bar.set_postfix(distributed=status["distributed"], refresh=False)
        self.bar.update(status["computed"] + status["failed"] - self.bar.n)

    def close(self):
        if self.bar is not None:
            self.bar.close()


class MapJob(_corvid.MapJob):
    """DCP's compute.for: `fn(inputs, slice)` builds one slice's subgraph from that slice's input
    Values and returns its output Value; Values made outside fn (model weights) are shared by
    every slice and sent once.

        job = R.MapJob(graph, lambda inputs, i: R.argmax(R.matmul(inputs[0], w), 1))
        for batch in batches:
            job.add_slice(batch)
        outcome = job.run(on_result=lambda i, v: print(i, v), max_time=60)
    """

    def __init__(self, graph, fn):
        super().__init__(graph, fn)
        self.graph = graph

    def add_slice(self, *inputs):
        """Adds a slice with these input arrays (records its ops now); returns its index."""
        return super().add_slice([_array(x) for x in inputs])

    def run(self, on_result=None, on_status=None, on_error=None, on_posted=None, max_time=None, progress=None):
        """Posts the slices and calls on_result(slice, ndarray) as each result arrives,
        on_status(dict of slices, distributed, computed, failed, ops_running, ops_pending,
        ops_total), on_error(slice, error), on_posted(slices, graph_id), all on this thread, until
        every slice is computed or failed, cancel() is called, max_time seconds pass, or a
        callback raises (the job is cancelled and the exception raised here; Ctrl-C too).
        progress: None draws a tqdm bar when stderr is a terminal, False none. Returns a
        MapOutcome."""
        bar = None
        if progress is None and sys.stderr is not None and sys.stderr.isatty():
            bar = _TqdmSlices(self.graph.name)

        def status(s):
            if bar is not None:
                bar(s)
            if on_status is not None:
                on_status(s)

        try:
            return MapOutcome(super().run(on_posted, status, on_result, on_error, float(max_time or 0)))
        finally:
            if bar is not None:
                bar.close()
