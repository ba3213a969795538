// The training benchmark: a training step (forward, backward and Adam's update) against the
// forward pass alone, and an epoch of the train_cnn example's CNN, on 2 native corvid-worker
// processes and on 2 headless Chromium tabs (the Participate page), through a real server.
//   node --experimental-websocket bench_training.js --server-bin PATH --worker-bin PATH --wasm-dir DIR
//        [--reps 5] [--smoke]
// Prints, for each fleet:
//   1. a CNN epoch on the 8x8 digits (examples/data/digits.csv, 1,500 images, batch 64 over 2
//      data-parallel shards, as examples/train_cnn): the forward passes alone (the same losses,
//      no grad) against training (grad ops, shard gradients averaged, adam_m/adam_v/adam_update),
//      submitted as one batch of ops to a graph that already holds the data;
//   2. one step of a larger CNN (batch 128 of 1x32x32 images, conv 16 and 32 channels), forward
//      against training, where the kernels rather than the per-op overhead dominate;
// medians of --reps runs after a warm-up, the ratios training / forward, and browser / native;
//   3. where the larger CNN's training step goes: the submit's round trip (validation, grad
//      expansion, the durable store), the workers' compute (the compute_ms they report, summed
//      over the step's groups, from /api/status), the server's own kernel verifying results
//      (/metrics corvid_server_verify_ms_total), and the rest (scheduling, moving tensors
//      between server and workers, results, the wait's answer), medians over the same runs.
'use strict';

const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const h = require('../../tests/browser/harness');
const { DevClient } = require('../browser/dev_client');

const args = h.parseArgs();
const smoke = Boolean(args.smoke);
const REPS = Number(args.reps || (smoke ? 1 : 5));
const WORKERS = 2;

function median(xs) { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; }

// A deterministic uniform generator in [-1, 1) (an LCG), for initial weights.
function uniform(seed) {
  let state = seed >>> 0;
  return () => { state = (Math.imul(state, 1664525) + 1013904223) >>> 0; return state / 2 ** 31 - 1; };
}

// Nested lists of `shape` with values from `next` scaled by `scale`.
function nested(shape, next, scale) {
  if (shape.length === 0) return next() * scale;
  return Array.from({ length: shape[0] }, () => nested(shape.slice(1), next, scale));
}

// The CNN's parameters: [shape, fan_in] of conv1 w, b, conv2 w, b, linear w, b.
function cnnParams(c1, c2, size) {
  const features = c2 * (size / 4) * (size / 4);
  return [[[c1, 1, 3, 3], 9], [[c1], 0], [[c2, c1, 3, 3], c1 * 9], [[c2], 0], [[features, 10], features], [[10], 0]];
}

// Tensor ops of the CNN's initial parameters (He uniform), ids P0..P5, and Adam's zero state.
function paramOps(params, seed) {
  const next = uniform(seed);
  const ops = [];
  params.forEach(([shape, fanIn], i) => {
    ops.push({ id: `P${i}`, op: 'tensor', dtype: 'float32', value: fanIn ? nested(shape, next, Math.sqrt(6 / fanIn)) : nested(shape, () => 0, 0) });
    ops.push({ id: `M${i}`, op: 'zeros', params: { shape, dtype: 'float32' } });
    ops.push({ id: `V${i}`, op: 'zeros', params: { shape, dtype: 'float32' } });
  });
  return ops;
}

// The forward pass of a batch: ops appended to `ops`, returns the loss's id. x: (n, size*size)
// or (n, 1, size, size) images, labels: (n) int32.
function forward(ops, p, P, x, labels, n, size) {
  const op = (id, name, inputs, params) => { ops.push({ id: p + id, op: name, inputs, params: params || {} }); return p + id; };
  let h = op('img', 'reshape', [x], { shape: [n, 1, size, size] });
  h = op('c1', 'conv2d', [h, P[0], P[1]], { stride: 1, padding: 1 });
  h = op('a1', 'relu', [h]);
  h = op('q1', 'max_pool2d', [h], { kernel: 2 });
  h = op('c2', 'conv2d', [h, P[2], P[3]], { stride: 1, padding: 1 });
  h = op('a2', 'relu', [h]);
  h = op('q2', 'max_pool2d', [h], { kernel: 2 });
  h = op('f', 'reshape', [h], { shape: [n, -1] });
  h = op('mm', 'matmul', [h, P[4]]);
  h = op('lg', 'add', [h, P[5]]);
  return op('loss', 'cross_entropy', [h, labels]);
}

// Adam's update of every parameter with the shard-averaged gradients of `losses`: ops appended,
// returns the new parameter and state ids.
function adamStep(ops, p, P, M, V, losses, step) {
  const out = { P: [], M: [], V: [] };
  P.forEach((w, i) => {
    const grads = losses.map((loss, s) => { ops.push({ id: `${p}g${i}s${s}`, op: 'grad', inputs: [loss, w] }); return `${p}g${i}s${s}`; });
    let g = grads[0];
    for (let s = 1; s < grads.length; s++) { ops.push({ id: `${p}G${i}s${s}`, op: 'add', inputs: [g, grads[s]] }); g = `${p}G${i}s${s}`; }
    if (grads.length > 1) { ops.push({ id: `${p}Gm${i}`, op: 'mul', inputs: [g, 'inv_shards'] }); g = `${p}Gm${i}`; }
    ops.push({ id: `${p}m${i}`, op: 'adam_m', inputs: [M[i], g], params: { beta1: 0.9 } });
    ops.push({ id: `${p}v${i}`, op: 'adam_v', inputs: [V[i], g], params: { beta2: 0.999 } });
    ops.push({ id: `${p}w${i}`, op: 'adam_update', inputs: [w, `${p}m${i}`, `${p}v${i}`], params: { lr: 0.01, step } });
    out.P.push(`${p}w${i}`); out.M.push(`${p}m${i}`); out.V.push(`${p}v${i}`);
  });
  return out;
}

const ids = (prefix, n) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

// One epoch over the digits' shards as ops with prefix `p`: forward only, or training.
function digitsEpoch(p, train, steps, shardBatch, shardRows, seed) {
  const ops = [];
  const outputs = [];
  let P = ids('P', 6), M = ids('M', 6), V = ids('V', 6);
  const next = uniform(seed);
  for (let k = 0; k < steps; k++) {
    const losses = [];
    for (let s = 0; s < WORKERS; s++) {
      const q = `${p}k${k}s${s}_`;
      const rows = Array.from({ length: shardBatch }, () => Math.floor((next() + 1) / 2 * shardRows) % shardRows);
      ops.push({ id: `${q}idx`, op: 'tensor', dtype: 'int32', value: rows });
      ops.push({ id: `${q}x`, op: 'gather', inputs: [`X${s}`, `${q}idx`], params: { axis: 0 } });
      ops.push({ id: `${q}y`, op: 'gather', inputs: [`Y${s}`, `${q}idx`], params: { axis: 0 } });
      losses.push(forward(ops, q, P, `${q}x`, `${q}y`, shardBatch, 8));
    }
    outputs.push(...losses);
    if (train) ({ P, M, V } = adamStep(ops, `${p}k${k}_`, P, M, V, losses, k + 1));
  }
  if (train) outputs.push(...P);
  return { ops, outputs };
}

// One step of the larger CNN on random images (ids R_x, R_y made by the data submit).
function largeStep(p, train, n, size) {
  const ops = [];
  const loss = forward(ops, p, ids('Q', 6), 'R_x', 'R_y', n, size);
  if (!train) return { ops, outputs: [loss] };
  const out = adamStep(ops, p, ids('Q', 6), ids('QM', 6), ids('QV', 6), [loss], 1);
  return { ops, outputs: [loss, ...out.P] };
}

// The digits (label, 64 pixels 0..16 per line), the first 1,500 as 2 shards.
function digitShards() {
  const lines = fs.readFileSync(path.join(__dirname, '..', '..', 'examples', 'data', 'digits.csv'), 'utf8').trim().split('\n');
  const rows = lines.slice(0, 1500).map((l) => l.split(',').map(Number));
  const per = rows.length / WORKERS;
  return Array.from({ length: WORKERS }, (_, s) => rows.slice(s * per, (s + 1) * per));
}

// The ops every run reads: shards, initial parameters and state, the larger CNN's data.
function dataOps(shards, large) {
  const ops = [{ id: 'inv_shards', op: 'tensor', dtype: 'float32', value: 1 / WORKERS }];
  shards.forEach((rows, s) => {
    ops.push({ id: `X${s}`, op: 'tensor', dtype: 'float32', value: rows.map((r) => r.slice(1).map((v) => v / 16)) });
    ops.push({ id: `Y${s}`, op: 'tensor', dtype: 'int32', value: rows.map((r) => r[0]) });
  });
  ops.push(...paramOps(cnnParams(8, 16, 8), 1));
  const q = paramOps(cnnParams(large.c1, large.c2, large.size), 2).map((o) => ({ ...o, id: o.id.replace(/^P/, 'Q').replace(/^M/, 'QM').replace(/^V/, 'QV') }));
  ops.push(...q);
  ops.push({ id: 'R_x', op: 'random_normal', params: { shape: [large.n, 1, large.size, large.size], seed: 5 } });
  const next = uniform(9);
  ops.push({ id: 'R_y', op: 'tensor', dtype: 'int32', value: Array.from({ length: large.n }, () => Math.floor((next() + 1) * 5) % 10) });
  return ops;
}

// The compute time every worker reported so far, summed (ms; /api/status).
async function reportedComputeMs(server) {
  return (await server.status()).workers.reduce((sum, w) => sum + (w.reported_compute_ms || 0), 0);
}

// The time the server's own kernel spent verifying results so far (ms; /metrics).
async function serverVerifyMs(server) {
  const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('corvid_server_verify_ms_total '));
  return line ? Number(line.split(' ')[1]) : 0;
}

// Median seconds of `build(prefix)` submitted to `graphId` and waited for, over REPS runs after
// one warm-up run, with the medians of the submit's round trip and of the workers' reported
// compute (ms) for the run.
async function timeRuns(client, server, graphId, label, build) {
  const times = [], submits = [], computes = [], verifies = [];
  for (let r = 0; r <= REPS; r++) {
    const { ops, outputs } = build(`${label}${r}_`);
    const computedBefore = await reportedComputeMs(server);
    const verifiedBefore = await serverVerifyMs(server);
    const started = performance.now();
    await client.submit(label, ops, outputs, graphId);
    const submitted = performance.now();
    const values = await client.wait(graphId, outputs);
    const seconds = (performance.now() - started) / 1000;
    if (values.header.status !== 'computed') throw new Error(`${label}: ${JSON.stringify(values.header.failed)}`);
    if (r > 0) {
      times.push(seconds);
      submits.push(submitted - started);
      computes.push((await reportedComputeMs(server)) - computedBefore);
      verifies.push((await serverVerifyMs(server)) - verifiedBefore);
    }
  }
  return { seconds: median(times), submitMs: median(submits), computeMs: median(computes), verifyMs: median(verifies), ops: build('count_').ops.length };
}

// Every figure on one fleet: `attach(server)` connects its workers and resolves to a cleanup.
async function measure(fleet, attach) {
  const dataDir = h.tempDir('corvid-training-bench-');
  const server = await new h.ServerProcess({ serverBin: h.requireArg(args, 'server-bin'), dataDir, wasmDir: args.wasmDir }).start();
  let detach = null, client = null;
  try {
    detach = await attach(server);
    await h.waitFor(`${WORKERS} ${fleet} workers with a benchmark`, async () =>
      (await server.status()).workers.filter((w) => w.benchmark).length >= WORKERS, 60000, 200);
    client = await new DevClient(`ws://127.0.0.1:${server.port}/ws/client`, server.token()).connect();
    const shards = digitShards();
    const large = smoke ? { n: 16, size: 16, c1: 8, c2: 16 } : { n: 128, size: 32, c1: 16, c2: 32 };
    const graphId = await client.submit(`training benchmark (${fleet})`, dataOps(shards, large), []);
    const shardBatch = 32, steps = smoke ? 3 : Math.floor(shards[0].length / shardBatch);
    const figures = {
      epochForward: await timeRuns(client, server, graphId, 'ef', (p) => digitsEpoch(p, false, steps, shardBatch, shards[0].length, 3)),
      epochTrain: await timeRuns(client, server, graphId, 'et', (p) => digitsEpoch(p, true, steps, shardBatch, shards[0].length, 3)),
      stepForward: await timeRuns(client, server, graphId, 'sf', (p) => largeStep(p, false, large.n, large.size)),
      stepTrain: await timeRuns(client, server, graphId, 'st', (p) => largeStep(p, true, large.n, large.size)),
    };
    figures.steps = steps;
    figures.large = large;
    return figures;
  } finally {
    if (client) client.close();
    if (detach) await detach();
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function nativeWorkers(server) {
  const children = [];
  for (let i = 0; i < WORKERS; i++)
    children.push(spawn(h.requireArg(args, 'worker-bin'), ['--server', `ws://127.0.0.1:${server.port}`, '--name', `native-${i + 1}`],
      { stdio: 'ignore' }));
  return async () => {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode !== null ? null : new Promise((r) => c.once('exit', r)))));
  };
}

async function browserTabs(server) {
  const browser = await h.launchBrowser();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  for (let i = 0; i < WORKERS; i++) await h.openParticipatingTab(context, server.url, `tab ${i + 1}`);
  return async () => { await context.close(); await browser.close().catch(() => {}); };
}

async function main() {
  const native = await measure('native', nativeWorkers);
  const tabs = await measure('Chromium', browserTabs);
  const ms = (f) => `${(1000 * f.seconds).toFixed(1).padStart(9)} ms`;
  const ratio = (a, b) => `${(a.seconds / b.seconds).toFixed(2)}x`;
  const L = native.large;
  console.log(`\n== training against the forward pass alone (median of ${REPS} after a warm-up; ${WORKERS} workers each) ==`);
  console.log(`${''.padEnd(46)} ${'2 native workers'.padStart(30)}   ${'2 Chromium tabs'.padStart(30)}   tabs / native`);
  const rows = [
    [`digits CNN epoch (${native.steps} steps, batch 64), forward`, 'epochForward'],
    [`digits CNN epoch, training (grad + Adam)`, 'epochTrain'],
    [`CNN step ${L.n}x1x${L.size}x${L.size} (conv ${L.c1}/${L.c2}), forward`, 'stepForward'],
    [`CNN step, training (grad + Adam)`, 'stepTrain'],
  ];
  for (const [what, key] of rows)
    console.log(`${what.padEnd(46)} ${ms(native[key])} (${String(native[key].ops).padStart(5)} ops)   ` +
      `${ms(tabs[key])} (${String(tabs[key].ops).padStart(5)} ops)   ${ratio(tabs[key], native[key]).padStart(8)}`);
  console.log(`${'training / forward: digits epoch'.padEnd(46)} ${ratio(native.epochTrain, native.epochForward).padStart(30)}   ${ratio(tabs.epochTrain, tabs.epochForward).padStart(30)}`);
  console.log(`${'training / forward: larger CNN step'.padEnd(46)} ${ratio(native.stepTrain, native.stepForward).padStart(30)}   ${ratio(tabs.stepTrain, tabs.stepForward).padStart(30)}`);
  console.log(`\n== where the larger CNN's training step goes (medians; compute as the workers report it) ==`);
  const part = (f, ms) => `${ms.toFixed(1).padStart(9)} ms (${(100 * ms / (1000 * f.seconds)).toFixed(0).padStart(3)}%)`;
  const parts = [
    ['submit round trip (validate, expand grads, store)', (f) => f.submitMs],
    ['workers computing (sum over the step\'s groups)', (f) => f.computeMs],
    ['server kernel verifying (--verify adaptive spot checks)', (f) => f.verifyMs],
    ['the rest: scheduling, tensors to and from workers, answer', (f) => 1000 * f.seconds - f.submitMs - f.computeMs - f.verifyMs],
  ];
  for (const [what, of] of parts)
    console.log(`${what.padEnd(58)} ${part(native.stepTrain, of(native.stepTrain)).padStart(24)}   ${part(tabs.stepTrain, of(tabs.stepTrain)).padStart(24)}`);
}

main().then(() => process.exit(0), (e) => { console.error(`bench_training: ${e.stack || e}`); process.exit(1); });
