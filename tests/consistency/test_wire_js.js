// Checks web/wire.js: its byte layout, round trips of every dtype, refusal of malformed frames
// with the reasons shared/wire.cpp gives, and that it reads every frame the Python encoder wrote
// for the consistency cases (DATA_DIR, from generate.py) and writes them back identically.
// Usage: node test_wire_js.js DATA_DIR
'use strict';
const assert = require('assert');
const fs = require('fs');
const path = require('path');
const wire = require('../../web/wire.js');
const { checkList } = require('./test_helpers.js');

const checks = checkList();
const { check } = checks;
const sameBytes = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);

check('byte layout: length prefix, JSON header, padding to 8, aligned buffers', () => {
  const bytes = wire.encodeFrame({ type: 't' }, [
    { name: 'a', dtype: 'int32', shape: [3], data: new Int32Array([1, 2, 3]) },
    { name: 'b', dtype: 'float64', shape: [], data: new Float64Array([0.5]) },
  ]);
  const len = new DataView(bytes.buffer).getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + len)));
  assert.deepStrictEqual(header.tensors, [
    { name: 'a', dtype: 'int32', shape: [3], offset: 0, length: 12 },
    { name: 'b', dtype: 'float64', shape: [], offset: 16, length: 8 },
  ]);
  const body = (4 + len + 7) & ~7;
  assert.strictEqual(bytes.length, body + 24);
  assert.ok(bytes.subarray(4 + len, body).every((v) => v === 0), 'header padding is zeros');
  assert.deepStrictEqual(Array.from(new Int32Array(bytes.buffer.slice(body, body + 12))), [1, 2, 3]);
  assert.strictEqual(new Float64Array(bytes.buffer.slice(body + 16, body + 24))[0], 0.5);
});

check('round trip of every dtype, 0-d and empty tensors, plain arrays', () => {
  const tensors = [
    { name: 'f', dtype: 'float32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, NaN]) },
    { name: 'd', dtype: 'float64', shape: [], data: new Float64Array([-Infinity]) },
    { name: 'i', dtype: 'int32', shape: [0, 4], data: new Int32Array(0) },
    { name: 'b', dtype: 'bool', shape: [3], data: [true, false, true] },
  ];
  const { header, tensors: back } = wire.decodeFrame(wire.encodeFrame({ type: 'x', n: 7, tensors: 'ignored' }, tensors));
  assert.deepStrictEqual(header, { type: 'x', n: 7 });
  assert.deepStrictEqual(back.map((t) => [t.name, t.dtype, t.shape]), tensors.map((t) => [t.name, t.dtype, t.shape]));
  assert.ok(back[0].data instanceof Float32Array && Number.isNaN(back[0].data[5]) && back[0].data[4] === 5);
  assert.strictEqual(back[1].data[0], -Infinity);
  assert.strictEqual(back[2].data.length, 0);
  assert.deepStrictEqual(Array.from(back[3].data), [1, 0, 1]);
});

check('decodes from an unaligned Uint8Array view', () => {
  const bytes = wire.encodeFrame({ type: 'x' }, [{ name: 'd', dtype: 'float64', shape: [2], data: [1.5, 2.5] }]);
  const shifted = new Uint8Array(bytes.length + 3);
  shifted.set(bytes, 3);
  assert.deepStrictEqual(Array.from(wire.decodeFrame(shifted.subarray(3)).tensors[0].data), [1.5, 2.5]);
});

check('malformed frames are refused with a reason', () => {
  const good = wire.encodeFrame({ type: 'x' }, [{ name: 'a', dtype: 'float32', shape: [2], data: [1, 2] }]);
  const refuses = (bytes, reason) => assert.throws(() => wire.decodeFrame(bytes),
    (e) => e instanceof wire.WireError && e.message.includes(reason), reason);
  refuses(good.subarray(0, 3), 'too short');
  refuses(good.subarray(0, good.length - 8), 'past the end');
  const long = good.slice();
  long[3] = 0x7f;
  refuses(long, 'does not fit');
  refuses(new Uint8Array([3, 0, 0, 0, 123, 123, 123, 0]), 'not valid JSON');
  refuses(new Uint8Array([2, 0, 0, 0, 123, 125, 0, 0]), "'type'");
  const withEntry = (entry) => {
    const text = new TextEncoder().encode(JSON.stringify({ type: 'x', tensors: [entry] }));
    const out = new Uint8Array(((4 + text.length + 7) & ~7) + 16);
    new DataView(out.buffer).setUint32(0, text.length, true);
    out.set(text, 4);
    return out;
  };
  refuses(withEntry({ name: 'a', dtype: 'int8', shape: [1], offset: 0, length: 1 }), "unknown dtype 'int8'");
  refuses(withEntry({ name: 'a', dtype: 'float32', shape: [3], offset: 0, length: 8 }), 'does not match float32(3,)');
  refuses(withEntry({ name: 'a', dtype: 'float32', shape: [-1], offset: 0, length: 4 }), 'non-negative');
  refuses(withEntry({ name: 'a', dtype: 'float32', shape: [1], offset: 4, length: 4 }), 'multiple of 8');
  const bools = withEntry({ name: 'a', dtype: 'bool', shape: [1], offset: 0, length: 1 });
  bools[bools.length - 16] = 2;
  refuses(bools, '0 or 1');
  assert.throws(() => wire.encodeFrame({ type: 'x' }, [{ name: 'a', dtype: 'float32', shape: [3], data: [1] }]),
    /1 values for shape \(3,\)/);
  assert.throws(() => wire.encodeFrame({ type: 'x' }, [{ name: 'a', dtype: 'float32', shape: [1], data: new Int32Array(1) }]),
    /must be a Float32Array/);
});

check('reads and rewrites every frame of the Python encoder', () => {
  const dataDir = process.argv[2];
  assert.ok(dataDir, 'usage: node test_wire_js.js DATA_DIR');
  const index = JSON.parse(fs.readFileSync(path.join(dataDir, 'index.json'), 'utf8'));
  const all = fs.readFileSync(path.join(dataDir, 'frames.bin'));
  let frames = 0;
  for (const entry of index.cases) {
    for (const place of [entry.assign, entry.expected].filter(Boolean)) {
      const original = all.subarray(place.offset, place.offset + place.length);
      const what = `${entry.name} at ${place.offset}`;
      const { header, tensors } = wire.decodeFrame(original);
      const again = wire.decodeFrame(wire.encodeFrame(header, tensors));
      assert.deepStrictEqual(again.header, header, what);
      assert.deepStrictEqual(again.tensors, tensors, what);
      // The two encoders lay the tensor buffers out byte for byte the same (headers may differ
      // in how numbers are spelled).
      const bufferBytes = (b) => b.subarray((4 + new DataView(b.buffer, b.byteOffset).getUint32(0, true) + 7) & ~7);
      assert.ok(sameBytes(bufferBytes(wire.encodeFrame(header, tensors)), bufferBytes(original)), what);
      ++frames;
    }
  }
  assert.ok(frames > 0, 'no frames in ' + dataDir);
});

process.exitCode = checks.run('web/wire.js');
