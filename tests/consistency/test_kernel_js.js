// Checks the wasm kernel through web/kernel.js as the browser worker uses it: groups, tensors
// kept across calls, error replies, and the device benchmark's figures.
// Usage: node test_kernel_js.js WASM_DIR   (the directory of corvid_kernel.js and .wasm)
'use strict';
const assert = require('assert');
const fs = require('fs');
const path = require('path');
const wire = require('../../web/wire.js');
const { load } = require('../../web/kernel.js');
const { checkList } = require('./test_helpers.js');

const f32 = (name, shape, values) => ({ name, dtype: 'float32', shape, data: new Float32Array(values) });
const assign = (groupId, ops, outputs, tensors = [], keep = []) =>
  wire.encodeFrame({ type: 'assign', group_id: groupId, ops, outputs, keep }, tensors);

async function main() {
  const wasmDir = process.argv[2];
  if (!wasmDir || !fs.existsSync(path.join(wasmDir, 'corvid_kernel.js'))) {
    console.log(`FAIL no wasm kernel at ${wasmDir}/corvid_kernel.js; build the wasm preset first`);
    return 1;
  }
  const kernel = await load({ dir: wasmDir });
  const checks = checkList();
  const { check } = checks;

  check('speaks protocol version 1', () => assert.strictEqual(kernel.protocolVersion, 1));

  check('a group computes its outputs in topological order', () => {
    const reply = wire.decodeFrame(kernel.execute(assign(1,
      [{ id: 's', op: 'add', inputs: ['a', 'b'] }, { id: 'p', op: 'mul', inputs: ['s', 'a'] }], ['p'],
      [f32('a', [2], [1, 2]), f32('b', [2], [3, 4])])));
    assert.strictEqual(reply.header.type, 'result', JSON.stringify(reply.header));
    assert.strictEqual(reply.header.group_id, 1);
    assert.deepStrictEqual(Object.keys(reply.header.op_ms).sort(), ['p', 's']);
    assert.deepStrictEqual(reply.tensors.map((t) => t.name), ['p']);
    assert.deepStrictEqual(Array.from(reply.tensors[0].data), [4, 12]);
  });

  check('kept tensors serve later groups without travelling again', () => {
    const first = wire.decodeFrame(kernel.execute(assign(2, [{ id: 'k:x', op: 'neg', inputs: ['k:a'] }], ['k:x'],
      [f32('k:a', [3], [1, 2, 3])], ['k:a', 'k:x'])));
    assert.strictEqual(first.header.type, 'result', JSON.stringify(first.header));
    assert.ok(kernel.cachedNames().includes('k:a') && kernel.cachedNames().includes('k:x'), kernel.cachedNames());
    const second = wire.decodeFrame(kernel.execute(assign(3, [{ id: 'k:y', op: 'add', inputs: ['k:x', 'k:a'] }], ['k:y'])));
    assert.strictEqual(second.header.type, 'result', JSON.stringify(second.header));
    assert.deepStrictEqual(Array.from(second.tensors[0].data), [0, 0, 0]);
  });

  check('an input the worker does not have is a missing_input error naming it', () => {
    const h = wire.decodeFrame(kernel.execute(assign(4, [{ id: 'z', op: 'neg', inputs: ['nowhere'] }], ['z']))).header;
    assert.deepStrictEqual([h.type, h.kind, h.op_id, h.group_id], ['error', 'missing_input', 'z', 4]);
    assert.ok(h.error.includes("'nowhere'"), h.error);
  });

  check('a kernel error names the op and its reason', () => {
    const h = wire.decodeFrame(kernel.execute(assign(5, [{ id: 'bad', op: 'add', inputs: ['a', 'b'] }], ['bad'],
      [f32('a', [2], [1, 2]), f32('b', [3], [1, 2, 3])]))).header;
    assert.deepStrictEqual([h.type, h.kind, h.op_id], ['error', 'kernel', 'bad']);
    assert.ok(h.error.startsWith('add: '), h.error);
  });

  check('undecodable and non-assign frames get malformed error replies', () => {
    const junk = wire.decodeFrame(kernel.execute(new Uint8Array([9, 0, 0, 0, 1, 2]))).header;
    assert.deepStrictEqual([junk.type, junk.kind], ['error', 'malformed']);
    assert.ok(junk.error.includes('header length'), junk.error);
    const other = wire.decodeFrame(kernel.execute(wire.encodeFrame({ type: 'heartbeat', t: 1 }))).header;
    assert.deepStrictEqual([other.type, other.kind], ['error', 'malformed']);
    assert.ok(other.error.includes("'heartbeat'"), other.error);
    const unknown = wire.decodeFrame(kernel.execute(assign(6, [{ id: 'q', op: 'frobnicate', inputs: [] }], ['q']))).header;
    assert.deepStrictEqual([unknown.type, unknown.kind, unknown.group_id], ['error', 'malformed', 6]);
    assert.ok(unknown.error.includes("'frobnicate'"), unknown.error);
  });

  check('a large input grows the heap and still computes', () => {
    const n = 8 << 20;  // 32 MB of float32, beyond the initial 16 MB heap
    const reply = wire.decodeFrame(kernel.execute(assign(7, [{ id: 'big', op: 'neg', inputs: ['a'] }], ['big'],
      [{ name: 'a', dtype: 'float32', shape: [n], data: new Float32Array(n).fill(2) }])));
    assert.strictEqual(reply.header.type, 'result', JSON.stringify(reply.header));
    assert.strictEqual(reply.tensors[0].data.length, n);
    assert.strictEqual(reply.tensors[0].data[n - 1], -2);
  });

  check('an output too large for wasm32 memory is a kernel error, not a trap', () => {
    // 64 x 2^30 float32 values (256 GiB; the byte count would wrap around in a 32-bit size_t):
    // inference refuses it before any allocation.
    const h = wire.decodeFrame(kernel.execute(assign(8, [{ id: 'oh', op: 'one_hot', inputs: ['i'], params: { depth: 1 << 30 } }],
      ['oh'], [{ name: 'i', dtype: 'int32', shape: [64], data: new Int32Array(64) }]))).header;
    assert.deepStrictEqual([h.type, h.kind, h.op_id], ['error', 'kernel', 'oh'], JSON.stringify(h));
    assert.ok(h.error.includes('would take 256.0 GiB; a tensor may take at most 512 MiB'), h.error);
    const after = wire.decodeFrame(kernel.execute(assign(9, [{ id: 'n', op: 'neg', inputs: ['a'] }], ['n'], [f32('a', [1], [1])])));
    assert.strictEqual(after.header.type, 'result', 'the module still works afterwards');
  });

  check('params are checked by name and type, and bincount bins are bounded before allocating', () => {
    const ints = (name, values) => ({ name, dtype: 'int32', shape: [values.length], data: new Int32Array(values) });
    const refusal = (groupId, op, params, input) =>
      wire.decodeFrame(kernel.execute(assign(groupId, [{ id: 'r', op, inputs: ['x'], params }], ['r'], [input]))).header;
    const cases = [
      [20, 'sum', { axsi: 1 }, f32('x', [2], [1, 2]), "sum: unknown param 'axsi' (accepted: axis, keepdims)"],
      [21, 'sum', { axis: 1.0, keepdims: 'yes' }, f32('x', [2], [1, 2]), "sum: param 'keepdims' must be true or false, got \"yes\""],
      [22, 'bincount', { minlength: 500000000 }, ints('x', [1]),
        "bincount: an int32 output of 500000000 bins (param 'minlength') would take 1.9 GiB; a tensor may take at most 512 MiB"],
      [23, 'bincount', {}, ints('x', [140000000]),
        'bincount: an int32 output of 140000001 bins (value 140000000 at index 0) would take 534.1 MiB; a tensor may take at most 512 MiB'],
    ];
    for (const [groupId, op, params, input, message] of cases) {
      const h = refusal(groupId, op, params, input);
      assert.deepStrictEqual([h.type, h.kind, h.op_id, h.error], ['error', 'kernel', 'r', message], JSON.stringify(h));
    }
  });

  check('the device benchmark reports positive figures', () => {
    const score = kernel.benchmark(150);
    assert.deepStrictEqual(Object.keys(score).sort(), ['duration_ms', 'elementwise_gbs', 'matmul_gflops', 'reduce_gbs']);
    for (const [key, value] of Object.entries(score)) assert.ok(Number.isFinite(value) && value > 0, `${key} = ${value}`);
  });

  return checks.run('web/kernel.js');
}

main().then((code) => { process.exitCode = code; }, (e) => { console.error(e); process.exitCode = 1; });
