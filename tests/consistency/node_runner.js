// The WebAssembly side of the consistency suite: runs every case written by generate.py through
// the wasm kernel (web/kernel.js, one long-lived executor as in a browser worker), checks it
// against NumPy's values like corvid_consistency does, and writes DATA/wasm.replies for the
// native-vs-wasm check (one record per case: u64 little-endian length, then the reply frame). The assign frames go to the kernel byte for byte as the native runner
// reads them (re-encoding them in JavaScript would turn a param like 3.0 into 3); replies are
// decoded with web/wire.js.
//
// Usage: node node_runner.js DATA_DIR [WASM_DIR] [plain|relaxed]   (WASM_DIR defaults to
// $CORVID_WASM_DIR; the kernel build defaults to plain; relaxed needs
// node --experimental-wasm-relaxed-simd and writes DATA/wasm-relaxed.replies)
'use strict';
const fs = require('fs');
const path = require('path');
const wire = require('../../web/wire.js');
const { load } = require('../../web/kernel.js');
const { checkReply } = require('./reply_check.js');

const sameBytes = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);

async function main() {
  const [dataDir, wasmDir = process.env.CORVID_WASM_DIR, variant = 'plain'] = process.argv.slice(2);
  const stem = variant === 'relaxed' ? 'corvid_kernel_relaxed' : 'corvid_kernel';
  if (!dataDir || !wasmDir) {
    console.error('usage: node node_runner.js DATA_DIR [WASM_DIR]  (or set CORVID_WASM_DIR)');
    return 2;
  }
  for (const file of [`${stem}.js`, `${stem}.wasm`]) {
    if (!fs.existsSync(path.join(wasmDir, file))) {
      console.error(`FAIL wasm: ${path.join(wasmDir, file)} does not exist; build the wasm preset first ` +
        '(cmake --preset wasm && cmake --build build/wasm)');
      return 1;
    }
  }
  const kernel = await load({ dir: wasmDir, variant });
  const index = JSON.parse(fs.readFileSync(path.join(dataDir, 'index.json'), 'utf8'));
  const frames = fs.readFileSync(path.join(dataDir, 'frames.bin'));
  const frameAt = ({ offset, length }) => frames.subarray(offset, offset + length);
  const replies = fs.openSync(path.join(dataDir, variant === 'relaxed' ? 'wasm-relaxed.replies' : 'wasm.replies'), 'w');
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
      why = checkReply(entry, wire.decodeFrame(replyBytes), frameAt, wire);
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
      console.log(`FAIL wasm ${variant} ${entry.name} (op ${entry.op}): ${why}`);
    }
  }
  fs.closeSync(replies);
  const total = index.cases.length;
  const summary = Object.entries(perFamily).map(([f, c]) => ` ${f} ${c.total - c.failed}/${c.total}`).join('');
  console.log(`wasm (${variant}): ${total} cases, ${failures} failed; passed per family:${summary}`);
  if (total === 0) console.log('wasm: no cases at all');
  return failures === 0 && total > 0 ? 0 : 1;
}

main().then((code) => { process.exitCode = code; }, (e) => { console.error(e); process.exitCode = 1; });
