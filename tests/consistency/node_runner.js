// The WebAssembly side of the consistency suite: runs every case written by generate.py through
// the wasm kernel (web/kernel.js, one long-lived executor as in a browser worker), checks it
// against NumPy's values like corvid_consistency does, and writes DATA/wasm.replies for the
// native-vs-wasm check (one record per case: u64 little-endian length, then the reply frame). The assign frames go to the kernel byte for byte as the native runner
// reads them (re-encoding them in JavaScript would turn a param like 3.0 into 3); replies are
// decoded with web/wire.js.
//
// Usage: node node_runner.js DATA_DIR [WASM_DIR]   (WASM_DIR defaults to $CORVID_WASM_DIR)
'use strict';
const fs = require('fs');
const path = require('path');
const wire = require('../../web/wire.js');
const { load } = require('../../web/kernel.js');

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
function checkReply(entry, reply, frameAt) {
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

const sameBytes = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);

async function main() {
  const [dataDir, wasmDir = process.env.CORVID_WASM_DIR] = process.argv.slice(2);
  if (!dataDir || !wasmDir) {
    console.error('usage: node node_runner.js DATA_DIR [WASM_DIR]  (or set CORVID_WASM_DIR)');
    return 2;
  }
  for (const file of ['corvid_kernel.js', 'corvid_kernel.wasm']) {
    if (!fs.existsSync(path.join(wasmDir, file))) {
      console.error(`FAIL wasm: ${path.join(wasmDir, file)} does not exist; build the wasm preset first ` +
        '(cmake --preset wasm && cmake --build build/wasm)');
      return 1;
    }
  }
  const kernel = await load({ dir: wasmDir });
  const index = JSON.parse(fs.readFileSync(path.join(dataDir, 'index.json'), 'utf8'));
  const frames = fs.readFileSync(path.join(dataDir, 'frames.bin'));
  const frameAt = ({ offset, length }) => frames.subarray(offset, offset + length);
  const replies = fs.openSync(path.join(dataDir, 'wasm.replies'), 'w');
  const writeRecord = (bytes) => {
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(bytes.length));
    fs.writeSync(replies, length);
    fs.writeSync(replies, bytes);
  };
  const perFamily = {};
  let failures = 0;
  for (const entry of index.cases) {
    let why;
    let replyBytes = new Uint8Array(0);
    try {
      const frame = frameAt(entry.assign);
      replyBytes = kernel.execute(frame);
      why = checkReply(entry, wire.decodeFrame(replyBytes), frameAt);
      // Compare the tensors, not the frames: the replies' timings may differ.
      const outBytes = (bytes) => {
        const t = wire.decodeFrame(bytes).tensors[0];
        return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      };
      if (!why && entry.kind === 'random' && !sameBytes(outBytes(kernel.execute(frame)), outBytes(replyBytes)))
        why = 'two runs with the same seed differ';
    } catch (e) {
      why = `runner error: ${e.stack || e}`;
    }
    writeRecord(replyBytes);
    const counts = (perFamily[entry.family] ||= { total: 0, failed: 0 });
    ++counts.total;
    if (why) {
      ++counts.failed;
      ++failures;
      console.log(`FAIL wasm ${entry.name} (op ${entry.op}): ${why}`);
    }
  }
  fs.closeSync(replies);
  const total = index.cases.length;
  const summary = Object.entries(perFamily).map(([f, c]) => ` ${f} ${c.total - c.failed}/${c.total}`).join('');
  console.log(`wasm: ${total} cases, ${failures} failed; passed per family:${summary}`);
  if (total === 0) console.log('wasm: no cases at all');
  return failures === 0 && total > 0 ? 0 : 1;
}

main().then((code) => { process.exitCode = code; }, (e) => { console.error(e); process.exitCode = 1; });
