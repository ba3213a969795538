// The consistency suite's check of one wasm reply against its case (written by generate.py),
// shared by the Node runner (node_runner.js) and the Chromium run (tests/browser/
// test_kernel_consistency.js): require() in Node, importScripts() in a worker (CorvidReplyCheck).
(function (root, factory) {
  if (typeof module === 'object' && module.exports) module.exports = factory();
  else root.CorvidReplyCheck = factory();
})(typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  // Why `actual` is not `expected` within |a - e| <= atol + rtol |e| (NaN matches NaN, infinities
  // must be equal), or '' when it is. Dtype and shape must be identical.
  function compare(actual, expected, rtol, atol) {
    const shape = (t) => `${t.dtype}(${t.shape.join(', ')}${t.shape.length === 1 ? ',' : ''})`;
    if (actual.dtype !== expected.dtype || actual.shape.join() !== expected.shape.join() ||
        actual.shape.length !== expected.shape.length)
      return `got ${shape(actual)}, expected ${shape(expected)}`;
    let bad = 0, worst = -1, worstError = -1;
    for (let i = 0; i < actual.data.length; ++i) {
      const a = actual.data[i], e = expected.data[i];
      let ok, error;
      if (Number.isNaN(a) || Number.isNaN(e)) {
        ok = Number.isNaN(a) && Number.isNaN(e);
        error = ok ? 0 : Infinity;
      } else if (!Number.isFinite(a) || !Number.isFinite(e)) {
        ok = a === e;
        error = ok ? 0 : Infinity;
      } else {
        error = Math.abs(a - e);
        ok = error <= atol + rtol * Math.abs(e);
      }
      if (!ok) ++bad;
      if (!ok && error > worstError) { worstError = error; worst = i; }
    }
    if (!bad) return '';
    return `${bad} of ${actual.data.length} values differ; max abs error ${worstError} at flat index ${worst} ` +
      `(got ${actual.data[worst]}, expected ${expected.data[worst]}; rtol ${rtol}, atol ${atol})`;
  }

  // Why the reply does not satisfy the case, or ''. Error-message checks on the op's canonical
  // name are left to the native runner (which has the op table); here the message must contain
  // the expected substring and blame op "out".
  function checkReply(entry, reply, frameAt, wire) {
    const h = reply.header;
    if (entry.kind === 'error') {
      if (h.type !== 'error') return `expected an error containing '${entry.error}', got a result`;
      if (h.kind !== 'kernel' || h.op_id !== 'out') return `error is not a kernel error of op 'out': ${JSON.stringify(h)}`;
      if (!h.error.includes(entry.error)) return `error does not contain '${entry.error}': ${h.error}`;
      return '';
    }
    if (h.type !== 'result') return `failed: ${h.error}`;
    if (reply.tensors.length !== 1 || reply.tensors[0].name !== 'out') return "reply does not hold exactly the tensor 'out'";
    if (entry.kind === 'random') return '';
    const expected = wire.decodeFrame(frameAt(entry.expected)).tensors[0];
    return compare(reply.tensors[0], expected, entry.rtol, entry.atol);
  }

  return { compare, checkReply };
});
