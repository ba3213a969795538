// The browser benchmark: the scheduler's scenarios with headless Chromium tabs as workers.
//   node --experimental-websocket bench_browser.js --server-bin PATH --wasm-dir DIR
//        [--tabs 4] [--ops 2000] [--latency-rounds 200] [--smoke] [--only kernel|heterogeneous|slots]
//        [--verify off|replicate|adaptive (the servers' policy: parts 1-3 default to the server's
//        default, adaptive; parts 4 and 5 to off, as they measure scheduling and the tab)] [--trace (slots: each slot's groups,
//        ops, benchmark and learned speed after each graph)]
// Prints:
//   1. the wasm kernel as measured inside the browser (the Participate benchmark entry point and
//      timed execute() calls of single-op groups in a Web Worker), the simd128 build and the
//      relaxed-SIMD build side by side;
//   2. latency of `a + b` through one tab: submit → value back, p50 / p99 (target ≤ 5 ms p50);
//   3. throughput: ops/s of a graph of many small independent ops through the server, with one
//      tab and with N identical tabs;
//   4. heterogeneous, as benchmarks/scheduler: equal independent sum(W @ W) items on tabs
//      emulating devices 2×, 4×, 8×, 16× slower (the Participate page's ?slowdown=f), makespan
//      under the earliest-finish policy and the round-robin baseline against the lower bound;
//   5. slots: one tab computing equal independent matmuls with 1 slot, then with 2 slots.
// Chromium is driven over a bare DevTools connection (bare_chromium.js), as a volunteer's browser
// runs with no debugger instrumenting its sockets.
'use strict';

const path = require('path');
const h = require('../../tests/browser/harness');
const graphs = require('../../tests/browser/graphs');
const { DevClient } = require('./dev_client');
const { launchBareChromium } = require('./bare_chromium');

const args = h.parseArgs();
const smoke = Boolean(args.smoke);
const TABS = Number(args.tabs || (smoke ? 2 : 4));
const OPS = Number(args.ops || (smoke ? 200 : 2000));
const LATENCY_ROUNDS = Number(args.latencyRounds || (smoke ? 20 : 200));
// --only runs one part: 'kernel' (parts 1-3, one server), 'heterogeneous' (4) or 'slots' (5).
const ONLY = args.only || '';
const runs = (part) => !ONLY || ONLY === part;

function percentile(sorted, p) { return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]; }

// Runs in a page: a Web Worker that loads one kernel build ('plain' or 'relaxed', web/kernel.js)
// and measures it, resolves to its figures.
async function kernelFiguresInBrowser(page, variant) {
  return page.evaluate(async (variant) => {
    const source = `
      importScripts(location.origin + '/wire.js', location.origin + '/kernel.js');
      onmessage = async ({ data: variant }) => {
        const kernel = await CorvidKernel.load({ variant, locateFile: (n) => location.origin + '/' + n });
        const score = kernel.benchmark(600);
        const fill = (n, s) => { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = ((i * 7919 + s) % 1000) / 1000 - 0.5; return a; };
        const time = (frame, reps) => { kernel.execute(frame); const t = performance.now(); for (let r = 0; r < reps; r++) kernel.execute(frame); return (performance.now() - t) / reps; };
        const group = (op, shapes) => CorvidWire.encodeFrame(
          { type: 'assign', group_id: 1, ops: [{ id: 'y', op, inputs: shapes.map((_, i) => 'x' + i), params: {} }], outputs: ['y'] },
          shapes.map((shape, i) => ({ name: 'x' + i, dtype: 'float32', shape, data: fill(shape.reduce((a, b) => a * b, 1), i) })));
        const rows = [];
        for (const n of [128, 256, 512]) {
          const ms = time(group('matmul', [[n, n], [n, n]]), n === 512 ? 3 : 10);
          rows.push({ what: 'matmul ' + n + 'x' + n + ' f32 (execute, incl. frame copy)', ms, figure: (2 * n * n * n / ms / 1e6).toFixed(2) + ' GFLOPS' });
        }
        const m = 1 << 20;
        const addMs = time(group('add', [[m], [m]]), 10);
        rows.push({ what: 'add 1M f32 (execute, incl. frame copy)', ms: addMs, figure: (12 * m / addMs / 1e6).toFixed(2) + ' GB/s' });
        const tanhMs = time(group('tanh', [[m]]), 10);
        rows.push({ what: 'tanh 1M f32 (execute, incl. frame copy)', ms: tanhMs, figure: (m / tanhMs / 1e3).toFixed(1) + ' Melem/s' });
        postMessage({ score, rows });
      };`;
    const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
    const worker = new Worker(url);
    return new Promise((resolve, reject) => {
      worker.onmessage = (e) => resolve(e.data);
      worker.onerror = (e) => reject(new Error(e.message));
      worker.postMessage(variant);
    });
  }, variant);
}

// Many independent small groups: `count` ops as count/2 branches of x_i + y_i → tanh.
function smallOpsGraph(count) {
  const ops = [];
  const outputs = [];
  for (let i = 0; i < count / 2; i++) {
    ops.push({ id: `x${i}`, op: 'tensor', value: graphs.values(64, i), dtype: 'float32' });
    ops.push({ id: `y${i}`, op: 'tensor', value: graphs.values(64, i + 7), dtype: 'float32' });
    ops.push({ id: `s${i}`, op: 'add', inputs: [`x${i}`, `y${i}`] });
    ops.push({ id: `t${i}`, op: 'tanh', inputs: [`s${i}`] });
    outputs.push(`t${i}`);
  }
  return { ops, outputs };
}

async function throughput(client, label, count) {
  const { ops, outputs } = smallOpsGraph(count);
  const started = performance.now();
  const graphId = await client.submit(`bench-${label}`, ops, outputs);
  const values = await client.wait(graphId);
  const seconds = (performance.now() - started) / 1000;
  if (values.header.status !== 'computed') throw new Error(`${label}: graph ${graphId} ended ${values.header.status}`);
  const computed = ops.filter((o) => o.op !== 'tensor').length;
  return { label, computed, seconds, opsPerS: computed / seconds };
}

async function latency(client, rounds) {
  const samples = [];
  for (let i = 0; i < rounds + 5; i++) {
    const started = performance.now();
    const graphId = await client.submit('bench-a-plus-b', [
      { id: 'a', op: 'tensor', value: [1, 2, 3], dtype: 'float32' },
      { id: 'b', op: 'tensor', value: [10, 20, i], dtype: 'float32' },
      { id: 'c', op: 'add', inputs: ['a', 'b'] }], ['c']);
    const values = await client.wait(graphId);
    const ms = performance.now() - started;
    const c = values.tensors.find((x) => x.name === 'c');
    if (!c || c.data[2] !== 3 + i) throw new Error(`a + b returned ${c ? Array.from(c.data) : 'nothing'}`);
    if (i >= 5) samples.push(ms);  // the first rounds warm up connections and caches
  }
  samples.sort((x, y) => x - y);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), min: samples[0], rounds };
}

// Equal independent ops: `count` × (W @ W) with one shared size×size W (kept on each worker
// after its first group).
function equalOpsGraph(count, size) {
  const ops = [{ id: 'W', op: 'tensor', value: graphs.matrix(size, size, 3, 1 / Math.sqrt(size)), dtype: 'float32' }];
  const outputs = [];
  for (let i = 0; i < count; i++) {
    ops.push({ id: `p${i}`, op: 'matmul', inputs: ['W', 'W'] });
    outputs.push(`p${i}`);
  }
  return { ops, outputs };
}

// Makespan of `count` × sum(W @ W) (size×size W) on tabs with the given slowdowns, under a server
// policy, after a warm-up graph. Verification is off unless --verify says otherwise: under
// adaptive, new tabs' groups are replicated on other tabs, work the bound does not count. Also the tabs' own rates during the run (ops over the compute
// time they reported, which a slowed tab multiplies by its slowdown): the bound under the same
// contention is count / Σ rates.
async function heterogeneous(browser, policy, slowdowns, count, size) {
  const dataDir = h.tempDir('corvid-browser-bench-');
  const server = await new h.ServerProcess({ serverBin: h.requireArg(args, 'server-bin'), dataDir, wasmDir: args.wasmDir,
    extraArgs: ['--policy', policy, '--verify', args.verify || 'off'] }).start();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  let client = null;
  try {
    for (const [i, f] of slowdowns.entries()) await h.openParticipatingTab(context, `${server.url}`, `tab ${i + 1} (${f}x slower)`, `?slowdown=${f}`);
    client = await new DevClient(`ws://127.0.0.1:${server.port}/ws/client`, server.token()).connect();
    // Warm up (wasm tier-up, W kept on every tab, speed estimates) before timing.
    const warm = reducedMatmulsGraph(Math.max(4, count / 10), size);
    await client.wait(await client.submit(`bench-hetero-warm-up`, warm.ops, warm.outputs));
    const before = (await server.status()).workers;
    const { ops, outputs } = reducedMatmulsGraph(count, size);
    const started = performance.now();
    const graphId = await client.submit(`bench-hetero-${policy}`, ops, outputs);
    const values = await client.wait(graphId);
    const seconds = (performance.now() - started) / 1000;
    if (values.header.status !== 'computed') throw new Error(`${policy}: graph ended ${values.header.status}`);
    const after = (await server.status()).workers;
    const shares = after.map((w, i) => w.ops_done - before[i].ops_done);
    const rate = after.reduce((sum, w, i) => {
      const computeS = (w.reported_compute_ms - before[i].reported_compute_ms) / 1000;
      return computeS > 0 ? sum + shares[i] / 2 / computeS : sum;  // 2 ops (matmul, sum) per item
    }, 0);
    return { seconds, shares, boundUnderContention: count / rate };
  } finally {
    if (client) client.close();
    await context.close();
    await server.stop();
    require('fs').rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main() {
  const browser = await launchBareChromium();  // not Playwright: its instrumentation costs the tabs CPU
  try {
    if (runs('kernel')) await kernelLatencyThroughput(browser);
    if (runs('heterogeneous')) await heterogeneousScenario(browser);
    if (runs('slots')) await slotsScenario(browser);
  } finally {
    await browser.close().catch(() => {});
  }
}

// Parts 1-3 on one server: the kernel inside Chromium, a + b latency, small-op throughput.
async function kernelLatencyThroughput(browser) {
  const dataDir = h.tempDir('corvid-browser-bench-');
  const server = await new h.ServerProcess({ serverBin: h.requireArg(args, 'server-bin'), dataDir, wasmDir: args.wasmDir }).start();
  let client = null;
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });

    console.log('\n== wasm kernel inside Chromium (Web Worker) ==');
    const probe = await context.newPage();
    await probe.goto(`${server.url}/`);
    const plain = await kernelFiguresInBrowser(probe, 'plain');
    const relaxed = await kernelFiguresInBrowser(probe, 'relaxed');
    await probe.close();
    for (const [name, k] of [['simd128', plain], ['relaxed SIMD', relaxed]])
      console.log(`Participate benchmark (${name}): matmul ${k.score.matmul_gflops.toFixed(2)} GFLOPS, elementwise ` +
        `${k.score.elementwise_gbs.toFixed(2)} GB/s, reduce ${k.score.reduce_gbs.toFixed(2)} GB/s (${Math.round(k.score.duration_ms)} ms)`);
    console.log(`  ${'group (one op)'.padEnd(44)} ${'simd128'.padStart(16)} ${'relaxed SIMD'.padStart(16)}  relaxed/simd128`);
    plain.rows.forEach((r, i) => console.log(`  ${r.what.padEnd(44)} ${r.figure.padStart(16)} ${relaxed.rows[i].figure.padStart(16)}  ` +
      `${(r.ms / relaxed.rows[i].ms).toFixed(2)}x`));

    client = await new DevClient(`ws://127.0.0.1:${server.port}/ws/client`, server.token()).connect();

    console.log(`\n== a + b latency through one tab (${LATENCY_ROUNDS} rounds) ==`);
    const first = await h.openParticipatingTab(context, server.url, 'tab 1');
    const lat = await latency(client, LATENCY_ROUNDS);
    console.log(`p50 ${lat.p50.toFixed(2)} ms   p99 ${lat.p99.toFixed(2)} ms   min ${lat.min.toFixed(2)} ms   (target p50 <= 5 ms: ${lat.p50 <= 5 ? 'met' : 'NOT met'})`);

    console.log(`\n== throughput: ${OPS} small ops (${OPS / 2} independent add + tanh pairs) ==`);
    const one = await throughput(client, '1-tab', OPS);
    console.log(`1 tab:   ${one.opsPerS.toFixed(0).padStart(7)} ops/s  (${one.computed} ops in ${one.seconds.toFixed(2)} s)`);
    for (let i = 2; i <= TABS; i++) await h.openParticipatingTab(context, server.url, `tab ${i}`);
    const many = await throughput(client, `${TABS}-tabs`, OPS);
    console.log(`${TABS} tabs:  ${many.opsPerS.toFixed(0).padStart(7)} ops/s  (${many.computed} ops in ${many.seconds.toFixed(2)} s, ` +
      `${(many.opsPerS / one.opsPerS).toFixed(2)}x one tab)`);
    await context.close();
  } finally {
    if (client) client.close();
    await server.stop();
    require('fs').rmSync(dataDir, { recursive: true, force: true });
  }
}

// Part 4: equal items on tabs emulating slower devices, earliest finish against round robin.
// The tabs are 2x/4x/8x/16x slower than this machine's core (the 1:2:4:8 mix of
// benchmarks/scheduler), so together they ask for 0.94 of a core and the bound, measured on the
// 2x tab alone, holds on 2 cores; the bound from the tabs' own rates during the run is printed too.
async function heterogeneousScenario(browser) {
  const slowdowns = smoke ? [2, 8] : [2, 4, 8, 16];
  const count = smoke ? 24 : 400, size = smoke ? 128 : 512;
  console.log(`\n== heterogeneous: ${count} equal items sum(W @ W), W ${size}x${size}, on tabs ${slowdowns.map((f) => f + 'x').join(', ')} slower ==`);
  const alone = await heterogeneous(browser, 'eft', [slowdowns[0]], count, size);
  const bound = alone.seconds / slowdowns.reduce((sum, f) => sum + slowdowns[0] / f, 0);
  console.log(`one ${slowdowns[0]}x tab alone: ${alone.seconds.toFixed(2)} s   -> lower bound for the fleet ${bound.toFixed(2)} s (work / total speed)`);
  const makespans = {};
  for (const policy of ['eft', 'round-robin']) {
    const r = await heterogeneous(browser, policy, slowdowns, count, size);
    makespans[policy] = r.seconds;
    console.log(`${policy.padEnd(12)} makespan ${r.seconds.toFixed(2)} s   ${(r.seconds / bound).toFixed(2)}x the bound   ` +
      `${(r.seconds / r.boundUnderContention).toFixed(2)}x the bound from the tabs' rates in this run (${r.boundUnderContention.toFixed(2)} s)   ` +
      `ops per tab ${r.shares.join(' / ')}`);
  }
  console.log(`round robin / earliest finish: ${(makespans['round-robin'] / makespans.eft).toFixed(2)}x (target >= 1.5x); ` +
    `earliest finish / bound: ${(makespans.eft / bound).toFixed(2)}x (target <= 1.25x)`);
}

// Part 5: one tab with 1 slot, then 2 slots.
async function slotsScenario(browser) {
  console.log('\n== slots: one tab, equal independent 512x512 matmuls, 1 slot then 2 slots ==');
  const [full, reduced] = await slots(browser, smoke ? 16 : 300, [equalOpsGraph, reducedMatmulsGraph]);
  for (const [what, { rates: r, busy }] of [['W @ W, 1 MB back per op', full], ['sum(W @ W), a scalar back', reduced]])
    console.log(`${what.padEnd(28)} 1 slot ${r[0].toFixed(1).padStart(6)}/s   2 slots ${r[1].toFixed(1).padStart(6)}/s   ` +
      `${(r[1] / r[0]).toFixed(2)}x (target >= 1.7x on 2 cores)   slots computing ${busy[0].toFixed(2)} / ${busy[1].toFixed(2)} of the time`);
}

// `count` × sum(W @ W) with one shared size×size W: the matmul stays on the worker and a scalar
// comes back, so the figure is the slots' computing, not the moving of results.
function reducedMatmulsGraph(count, size) {
  const { ops } = equalOpsGraph(count, size);
  const outputs = [];
  for (let i = 0; i < count; i++) {
    ops.push({ id: `s${i}`, op: 'sum', inputs: [`p${i}`] });
    outputs.push(`s${i}`);
  }
  return { ops, outputs };
}

// Matmuls per second of one tab, with 1 slot and then 2 slots (the Participate page's "Cores to
// lend"), each after a warm-up graph: for each graph maker, {rates: [1 slot, 2 slots], busy: the
// slots' reported compute time over the wall time, [1 slot, 2 slots]}.
async function slots(browser, count, makers) {
  const dataDir = h.tempDir('corvid-browser-bench-');
  // Verification is off unless --verify says otherwise (as in part 4): with one tab, the default
  // (adaptive) has the server's kernel recompute every group of the untrusted tab on the same 2
  // cores, and the figure would measure that, not the tab.
  const server = await new h.ServerProcess({ serverBin: h.requireArg(args, 'server-bin'), dataDir, wasmDir: args.wasmDir,
    extraArgs: ['--verify', args.verify || 'off'] }).start();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  let client = null;
  try {
    const tab = await h.openParticipatingTab(context, server.url, 'tab', '', { cores: 1 });
    client = await new DevClient(`ws://127.0.0.1:${server.port}/ws/client`, server.token()).connect();
    const rates = makers.map(() => []);
    const busy = makers.map(() => []);  // the slots' reported compute time over the wall time
    for (const cores of [1, 2]) {
      if (cores > 1) {
        await h.setCores(tab, cores);
        await tab.waitForFunction(() => /^\d+, \d+$/.test(document.getElementById('worker-id').textContent), null, { timeout: 60000 });
      }
      for (const [m, make] of makers.entries()) {
        const warm = make(Math.max(4, count / 10), 512);
        await client.wait(await client.submit(`bench-slots-warm-up-${cores}-${m}`, warm.ops, warm.outputs));
        const { ops, outputs } = make(count, 512);
        const computeBefore = (await server.status()).workers.reduce((sum, w) => sum + w.reported_compute_ms, 0);
        const started = performance.now();
        const values = await client.wait(await client.submit(`bench-slots-${cores}-${m}`, ops, outputs));
        if (values.header.status !== 'computed') throw new Error(`slots ${cores}: graph ended ${values.header.status}`);
        const wallMs = performance.now() - started;
        rates[m].push(count / (wallMs / 1000));
        const computeMs = (await server.status()).workers.reduce((sum, w) => sum + w.reported_compute_ms, 0) - computeBefore;
        busy[m].push(computeMs / wallMs);
        if (args.trace) {
          const status = await server.status();
          for (const w of status.workers)
            console.log(`  [${cores} slot(s), graph ${m}] worker ${w.id}: ${w.groups_done} groups, ${w.ops_done} ops, ` +
              `benchmark ${Number(w.score_gflops).toFixed(1)} / measured ${w.measured_gflops === null ? '-' : Number(w.measured_gflops).toFixed(1)} GFLOPS, ` +
              `reported compute ${(w.reported_compute_ms / 1000).toFixed(2)} s`);
          console.log(`  verification ${JSON.stringify(status.graphs ? status.graphs.map((g) => g.verification) : null)}`);
        }
      }
    }
    return rates.map((r, m) => ({ rates: r, busy: busy[m] }));
  } finally {
    if (client) client.close();
    await context.close();
    await server.stop();
    require('fs').rmSync(dataDir, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (e) => { console.error(`bench_browser: ${e.stack || e}`); process.exit(1); });
