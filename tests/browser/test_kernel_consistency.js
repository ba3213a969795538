// Both kernel builds pass the consistency suite inside Chromium: a Web Worker loads
// corvid_kernel (simd128) and then corvid_kernel_relaxed (relaxed SIMD, FMA) through
// web/kernel.js, runs every case of the suite (generate.py's frames) and checks each reply
// against NumPy's values with the Node runner's checker (tests/consistency/reply_check.js).
// Files are served by a small HTTP server of this test (the corvid server serves no test data).
//   node test_kernel_consistency.js --wasm-dir DIR --data DIR   (DIR: generate.py's output)
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');
const h = require('./harness');

const REPO = path.resolve(__dirname, '..', '..');

// The page's worker: loads one kernel build and checks every case; posts a summary.
const WORKER = `
importScripts('/web/wire.js', '/web/kernel.js', '/reply_check.js');
onmessage = async ({ data: variant }) => {
  try {
    const kernel = await CorvidKernel.load({ variant, locateFile: (name) => '/wasm/' + name });
    const index = await (await fetch('/data/index.json')).json();
    const frames = new Uint8Array(await (await fetch('/data/frames.bin')).arrayBuffer());
    const frameAt = ({ offset, length }) => frames.subarray(offset, offset + length);
    const failures = [];
    for (const entry of index.cases) {
      let why;
      try {
        why = CorvidReplyCheck.checkReply(entry, CorvidWire.decodeFrame(kernel.execute(frameAt(entry.assign))), frameAt, CorvidWire);
      } catch (e) {
        why = 'runner error: ' + e.message;
      }
      if (why) failures.push(entry.name + ' (op ' + entry.op + '): ' + why);
    }
    postMessage({ relaxed: kernel.relaxedSimd, cases: index.cases.length, failures,
      matmul_gflops: kernel.benchmark(600).matmul_gflops });
  } catch (e) {
    postMessage({ error: e.message });
  }
};`;

function serve(wasmDir, dataDir) {
  const files = {
    '/': ['text/html', () => '<!doctype html><title>kernel consistency</title>'],
    '/worker.js': ['text/javascript', () => WORKER],
    '/web/wire.js': ['text/javascript', () => fs.readFileSync(path.join(REPO, 'web', 'wire.js'))],
    '/web/kernel.js': ['text/javascript', () => fs.readFileSync(path.join(REPO, 'web', 'kernel.js'))],
    '/reply_check.js': ['text/javascript', () => fs.readFileSync(path.join(REPO, 'tests', 'consistency', 'reply_check.js'))],
    '/data/index.json': ['application/json', () => fs.readFileSync(path.join(dataDir, 'index.json'))],
    '/data/frames.bin': ['application/octet-stream', () => fs.readFileSync(path.join(dataDir, 'frames.bin'))],
  };
  for (const stem of ['corvid_kernel', 'corvid_kernel_relaxed']) {
    files[`/wasm/${stem}.js`] = ['text/javascript', () => fs.readFileSync(path.join(wasmDir, `${stem}.js`))];
    files[`/wasm/${stem}.wasm`] = ['application/wasm', () => fs.readFileSync(path.join(wasmDir, `${stem}.wasm`))];
  }
  const server = http.createServer((req, res) => {
    const file = files[req.url];
    if (!file) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'Content-Type': file[0] });
    res.end(file[1]());
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

h.runTest('both kernel builds pass the consistency suite inside Chromium', async (t) => {
  const wasmDir = h.requireArg(t.args, 'wasm-dir');
  const dataDir = h.requireArg(t.args, 'data');
  for (const file of ['corvid_kernel_relaxed.wasm', 'corvid_kernel.wasm'])
    h.check(fs.existsSync(path.join(wasmDir, file)), `${file} is built in ${wasmDir}`);
  const server = await serve(wasmDir, dataDir);
  try {
    t.browser = await h.launchBrowser();
    const page = await t.browser.newPage();
    await page.goto(`http://127.0.0.1:${server.address().port}/`);
    const figures = {};
    for (const variant of ['plain', 'relaxed']) {
      const result = await page.evaluate((v) => new Promise((resolve) => {
        const worker = new Worker('/worker.js');
        worker.onmessage = (e) => { worker.terminate(); resolve(e.data); };
        worker.onerror = (e) => resolve({ error: e.message });
        worker.postMessage(v);
      }), variant);
      h.check(!result.error, `the ${variant} kernel loaded and ran (${result.error || 'ok'})`);
      h.check(result.relaxed === (variant === 'relaxed'), `web/kernel.js loaded the ${variant} build`);
      for (const failure of result.failures.slice(0, 10)) h.log(`FAIL ${variant} ${failure}`);
      h.check(result.cases > 0 && result.failures.length === 0,
        `${variant}: ${result.cases} cases, ${result.failures.length} failed`);
      figures[variant] = result.matmul_gflops;
    }
    h.log(`device benchmark matmul in Chromium: plain ${figures.plain.toFixed(1)} GFLOPS, relaxed ` +
      `${figures.relaxed.toFixed(1)} GFLOPS (${(figures.relaxed / figures.plain).toFixed(2)}x)`);
    const auto = await page.evaluate(() => new Promise((resolve) => {
      const worker = new Worker(URL.createObjectURL(new Blob([`importScripts('${location.origin}/web/kernel.js');
        postMessage(CorvidKernel.hasRelaxedSimd());`])));
      worker.onmessage = (e) => resolve(e.data);
    }));
    h.check(auto === true, 'Chromium reports relaxed SIMD, so Participate loads the relaxed build');
  } finally {
    server.close();
  }
});
