#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets into fuzz/corpus/<name>/ (committed; run again
after changing the seeds): the frames and messages of tests/unit/test_wire.cpp, tests/server and
tests/net, as wire frames (frame), as scripts of worker and developer actions (coordinator, format
in fuzz_coordinator.cpp), the graph files of tests/integration/graphs and client/tests (graph_file),
and HTTP requests and targets of tests/net/test_http.cpp (http). Also writes fuzz/corvid.dict,
the libFuzzer dictionary of the JSON targets: the quoted names in the op kernels and the server
core (op names, params, message types and fields).
"""
import hashlib
import json
import pathlib
import re
import shutil
import struct
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "consistency"))
from frames import encode_frame  # noqa: E402  (the Python twin of shared/wire.cpp)

CORPUS = ROOT / "fuzz" / "corpus"

# The actions of fuzz_coordinator.cpp, in its order.
WORKER_FRAME, WORKER_ANSWER, WORKER_LEAVE, CLIENT_FRAME, CLIENT_LEAVE, TICK, OPERATOR_VIEWS, RESTART = range(8)


def tensor_op(op_id, value, dtype=None):
    op = {"id": op_id, "op": "tensor", "value": value}
    if dtype:
        op["dtype"] = dtype
    return op


def op(op_id, name, inputs=(), params=None):
    return {"id": op_id, "op": name, "inputs": list(inputs), "params": params or {}}


README_OPS = [tensor_op("a", [[1, 2], [3, 4]], "float32"), tensor_op("b", [5, 6]), op("c", "add", ["a", "b"]),
              op("d", "sum", ["c"], {"axis": 1, "keepdims": False})]

# Frames a worker sends (tests/server/harness.hpp, tests/net/test_client.cpp).
WORKER_HELLO = {"type": "hello", "version": 1, "name": "w1", "user_agent": "test"}
BENCHMARK = {"type": "benchmark", "matmul_gflops": 10, "elementwise_gbs": 10, "reduce_gbs": 10, "duration_ms": 10}
HEARTBEAT = {"type": "heartbeat", "t": 1234.5}
# A developer's hello (the target takes its token as right).
CLIENT_HELLO = {"type": "hello", "version": 1, "token": "t0k3n", "name": "dev"}


def wire(header, tensors=()):
    return encode_frame(header, list(tensors))


def payload(header, tensors=()):
    """A coordinator-script frame payload: the JSON header, then NUL and the buffers if any."""
    frame = wire(header, tensors)
    (length,) = struct.unpack_from("<I", frame)
    text = frame[4:4 + length]
    buffers = frame[(4 + length + 7) // 8 * 8:]
    return text + (b"\0" + buffers if tensors else b"")


def record(action, actor, data=b""):
    if isinstance(data, str):
        data = data.encode()
    return bytes([action, actor]) + struct.pack("<H", len(data)) + data


def worker_joins(actor, gflops=10):
    hello = dict(WORKER_HELLO, name=f"w{actor}")
    return record(WORKER_FRAME, actor, payload(hello)) + record(
        WORKER_FRAME, actor, payload(dict(BENCHMARK, matmul_gflops=gflops)))


def submit(request_id, ops, **extra):
    return dict({"type": "submit", "request_id": request_id, "ops": ops}, **extra)


def scripts():
    """Scripts of the coordinator target, after the scenarios of tests/server."""
    a = np.array([[1, 2], [3, 4]], dtype=np.float32)
    b = np.array([5, 6], dtype=np.int32)
    yield "readme_graph", (
        worker_joins(0) + record(CLIENT_FRAME, 0, payload(CLIENT_HELLO)) +
        record(CLIENT_FRAME, 0, payload(submit(1, README_OPS, name="demo", outputs=["c", "d"]))) +
        record(CLIENT_FRAME, 0, payload({"type": "wait", "request_id": 2, "graph_id": 1})) +
        record(WORKER_ANSWER, 0) * 4 + record(TICK, 2) +
        record(CLIENT_FRAME, 0, payload({"type": "end", "request_id": 3, "graph_id": 1})) +
        record(OPERATOR_VIEWS, 1))
    yield "binary_tensors_two_workers", (
        worker_joins(0) + worker_joins(1, gflops=40) + record(CLIENT_FRAME, 0, payload(CLIENT_HELLO)) +
        record(CLIENT_FRAME, 0, payload(submit(1, [{"id": "a", "op": "tensor"}, {"id": "b", "op": "tensor"},
                                                   op("m", "matmul", ["a", "a"]), op("s", "add", ["m", "b"]),
                                                   op("t", "transpose", ["s"]), op("r", "mean", ["t"], {"axis": 0})]),
                                        [("a", a), ("b", b)])) +
        record(CLIENT_FRAME, 0, payload({"type": "wait", "request_id": 2, "graph_id": 1, "stream": True})) +
        record(WORKER_ANSWER, 1, '{"compute_ms": 0.001}') + record(WORKER_ANSWER, 0) + record(WORKER_ANSWER, 1) +
        record(WORKER_ANSWER, 0) + record(TICK, 20) + record(OPERATOR_VIEWS, 1))
    yield "kernel_error_and_retry", (
        worker_joins(0) + worker_joins(1) + record(CLIENT_FRAME, 1, payload(CLIENT_HELLO)) +
        record(CLIENT_FRAME, 1, payload(submit(7, [tensor_op("x", [1, 2, 3]), op("y", "neg", ["x"]),
                                                   op("z", "exp", ["y"])]))) +
        record(WORKER_ANSWER, 0, '{"type": "error", "kind": "kernel", "error": "neg: boom", "op_id": "1:y"}') +
        record(WORKER_ANSWER, 1, '{"type": "error", "kind": "missing_input", "error": "gone"}') +
        record(WORKER_ANSWER, 0) + record(WORKER_ANSWER, 1) +
        record(CLIENT_FRAME, 1, payload({"type": "wait", "request_id": 8, "graph_id": 1, "ids": ["y", "z"]})))
    yield "release_heartbeat_reconnect", (
        worker_joins(0) + record(CLIENT_FRAME, 0, payload(CLIENT_HELLO)) +
        record(CLIENT_FRAME, 0, payload(submit(1, [op("o", "ones", [], {"shape": [3, 3]}),
                                                   op("m", "matmul", ["o", "o"]), op("s", "sum", ["m"])]))) +
        record(WORKER_FRAME, 0, payload(HEARTBEAT)) +
        record(WORKER_FRAME, 0, payload({"type": "release", "group_ids": [1, 2]})) +
        record(WORKER_FRAME, 0, payload({"type": "result", "group_id": 99, "compute_ms": 1, "op_ms": {}})) +
        record(WORKER_FRAME, 0, b"not json") + record(WORKER_LEAVE, 0) +
        record(WORKER_FRAME, 0, payload(dict(WORKER_HELLO, resume_id=1, cached=["1:o", "2:x"]))) +
        record(WORKER_FRAME, 0, payload(BENCHMARK)) + record(WORKER_ANSWER, 0) + record(WORKER_ANSWER, 0) +
        record(TICK, 255) + record(TICK, 255) + record(OPERATOR_VIEWS, 1))
    yield "cancel_and_restart", (
        worker_joins(2) + record(CLIENT_FRAME, 2, payload(CLIENT_HELLO)) +
        record(CLIENT_FRAME, 2, payload(submit(1, README_OPS, submit_key="k1"))) +
        record(CLIENT_FRAME, 2, payload(submit(2, README_OPS, submit_key="k1"))) +
        record(CLIENT_FRAME, 2, payload(submit(3, [op("e", "exp", ["c"])], graph_id=1))) +
        record(CLIENT_FRAME, 2, payload({"type": "cancel", "request_id": 4, "graph_id": 1, "ids": ["e"]})) +
        record(RESTART, 0) + worker_joins(2) + record(CLIENT_FRAME, 2, payload(CLIENT_HELLO)) +
        record(CLIENT_FRAME, 2, payload({"type": "wait", "request_id": 5, "graph_id": 1, "any": True,
                                         "track": ["c", "d"]})) +
        record(WORKER_ANSWER, 2) + record(WORKER_ANSWER, 2) + record(CLIENT_LEAVE, 2) + record(OPERATOR_VIEWS, 1))
    yield "bad_requests", (
        record(CLIENT_FRAME, 0, payload(CLIENT_HELLO)) +
        record(CLIENT_FRAME, 0, payload({"type": "wait", "graph_id": 99, "request_id": "r1"})) +
        record(CLIENT_FRAME, 0, payload({"type": "launch"})) +
        record(CLIENT_FRAME, 0, payload(submit(1, [tensor_op("a", 1), op("b", "frob", ["a"])]))) +
        record(CLIENT_FRAME, 0, payload(submit(2, [tensor_op("a", 1), op("b", "add", ["a", "q"])]))) +
        record(CLIENT_FRAME, 0, payload(submit(3, [tensor_op("a", [1, 2]), op("b", "matmul", ["a", "a", "a"])]))) +
        record(CLIENT_FRAME, 0, payload({"type": "end", "request_id": 4, "graph_id": "x"})) +
        record(CLIENT_FRAME, 0, payload({"type": "cancel", "request_id": 5})) +
        record(WORKER_FRAME, 1, payload({"type": "hello", "version": 2})) +
        record(WORKER_FRAME, 1, payload(WORKER_HELLO)) + record(WORKER_FRAME, 1, payload({"type": "assign"})) +
        record(WORKER_FRAME, 1, payload({"type": "benchmark", "matmul_gflops": -1})))


def wire_frames():
    """Frames of tests/unit/test_wire.cpp and every frame of the scripts, as bytes."""
    yield "result_with_tensors", wire({"type": "result", "group_id": 7},
                                      [("x", np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32)),
                                       ("i", np.array([1, -2], dtype=np.int32)),
                                       ("d", np.array(3.5, dtype=np.float64)),
                                       ("b", np.array([True, False, True]))])
    yield "empty_tensor", wire({"type": "x"}, [("e", np.zeros((0, 3), dtype=np.float32))])
    yield "bad_bool", wire({"type": "x"}, [("b", np.array([2], dtype=np.uint8).view(np.bool_))])
    for name, script in scripts():
        for i, frame in enumerate(frames_of(script)):
            yield f"{name}_{i}", frame


def frames_of(script):
    """The frame payloads of a coordinator script, as wire frames."""
    at = 0
    while at + 4 <= len(script):
        action, _, length = script[at], script[at + 1], struct.unpack_from("<H", script, at + 2)[0]
        data = script[at + 4:at + 4 + length]
        at += 4 + length
        if action not in (WORKER_FRAME, CLIENT_FRAME):
            continue
        text, _, buffers = data.partition(b"\0")
        head = struct.pack("<I", len(text)) + text
        yield head + b"\0" * ((-len(head)) % 8) + buffers


def graph_files():
    for path in sorted((ROOT / "tests" / "integration" / "graphs").glob("*.json")):
        yield path.stem, path.read_bytes()
    yield "every_value_kind", json.dumps({"name": "kinds", "ops": [
        tensor_op("f", [[1.5, 2], [3, 4]]), tensor_op("i", [1, 2]), tensor_op("b", [True, False]),
        tensor_op("d", 2.5, "float64"), op("z", "zeros", [], {"shape": [2, 2], "dtype": "int32"}),
        op("r", "random_uniform", [], {"shape": [4], "seed": 1}), op("w", "where", ["b", "i", "i"]),
        op("m", "matmul", ["f", "f"]), op("p", "percentile", ["m"], {"q": 50}),
        op("s", "softmax", ["m"], {"axis": -1}), op("c", "clip", ["f"], {"min": 0, "max": 2})],
        "outputs": ["m", "p", "s", "w", "c"]}).encode()
    yield "gradients", json.dumps({"name": "grads", "ops": [
        tensor_op("x", [[0.5, -1], [2, 0.25]]), tensor_op("w", [[1, 2], [3, 4]], "float64"),
        tensor_op("i", [1, 0, 1]), op("m", "matmul", ["x", "w"]), op("g", "gather", ["m", "i"], {"axis": 0}),
        op("s", "sort", ["g"], {"axis": -1}), op("t", "tanh", ["s"]), op("l", "mean", ["t"]),
        op("dx", "grad", ["l", "x"]), op("dw", "grad", ["l", "w"]), op("u", "sub", ["w", "dw"])],
        "outputs": ["dx", "u"]}).encode()


def http_inputs():
    requests = ["GET / HTTP/1.1", "GET /status HTTP/1.1", "HEAD /app.js?v=2 HTTP/1.1",
                "GET /corvid_kernel.wasm HTTP/1.1", "GET /api/status HTTP/1.1", "GET /api/graphs/1 HTTP/1.1",
                "GET /api/graphs/x HTTP/1.1", "GET /metrics HTTP/1.1", "POST /api/status HTTP/1.1",
                "GET /ws/worker HTTP/1.1", "GET /missing.js HTTP/1.0", "GET /sub/page.css HTTP/1.1"]
    for i, line in enumerate(requests):
        yield f"request_{i}", (line + "\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n").encode()
    targets = ["/", "/index.html", "/../secret", "//etc/passwd", "/%2Fetc%2Fpasswd", "/%2e%2e/secret",
               "/..%2fsecret", "/%5c..%5csecret", "/a%00.js", "/%c0%ae%c0%ae/secret", "/up/secret",
               "/secret.txt", "/sub/", "/corvid_kernel.js?x=1"]
    for i, target in enumerate(targets):
        yield f"target_{i}", target.encode()


def write(name, items):
    folder = CORPUS / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for stem, data in items:
        digest = hashlib.sha1(data).hexdigest()[:8]
        (folder / f"{stem}-{digest}").write_bytes(data)


def write_dictionary():
    words = set()
    for folder in ("shared", "shared/ops", "server/core"):
        for path in (ROOT / folder).glob("*.cpp"):
            words.update(re.findall(r'"([a-z][a-z0-9_]{1,24})"', path.read_text()))
    tokens = sorted(f'"\\"{w}\\""' for w in words) + ['"{"', '"}"', '"["', '"]"', '":"', '","', '"null"', '"true"',
                                                         '"false"', '"-1"', '"1e308"', '"0.5"']
    (ROOT / "fuzz" / "corvid.dict").write_text("# Written by make_corpus.py.\n" + "\n".join(tokens) + "\n")


def main():
    write_dictionary()
    write("frame", wire_frames())
    write("coordinator", scripts())
    write("graph_file", graph_files())
    write("http", http_inputs())


if __name__ == "__main__":
    main()
