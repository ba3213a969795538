// Honest wasm and native workers verify each other with no false disagreement: a Chromium tab
// and a native corvid-worker on a server under `--verify replicate` (so every group is computed
// by both kernels and compared with the agreement rule of docs/design.md), over graphs touching
// every op family (elementwise, transcendental, reductions, linear algebra, movement, softmax,
// sources). Every graph computes, both workers computed groups, and /metrics counts no
// disagreement and no wrong result.
//   node test_verify_mixed.js --server-bin PATH --corvid-bin PATH --worker-bin PATH --wasm-dir DIR
'use strict';

const path = require('path');
const { spawn } = require('child_process');
const h = require('./harness');
const graphs = require('./graphs');

// One graph per family mix, on deterministic 16×16 inputs.
function familyGraphs() {
  const x = { id: 'x', op: 'tensor', value: graphs.matrix(16, 16, 3), dtype: 'float32' };
  const y = { id: 'y', op: 'tensor', value: graphs.matrix(16, 16, 5), dtype: 'float32' };
  const unary = ['exp', 'tanh', 'sigmoid', 'relu', 'neg', 'abs', 'sin', 'cos', 'sqrt', 'log'];
  const ops = [x, y, { id: 'pos', op: 'add', inputs: ['x', 'y'] }];
  for (const u of unary) {
    const input = ['sqrt', 'log'].includes(u) ? 'e' : 'pos';
    if (u === 'sqrt') ops.push({ id: 'e', op: 'exp', inputs: ['x'] });
    ops.push({ id: `u_${u}`, op: u, inputs: [input] });
  }
  const linear = [x, y,
    { id: 'mm', op: 'matmul', inputs: ['x', 'y'] },
    { id: 'mt', op: 'transpose', inputs: ['mm'] },
    { id: 'd', op: 'dot', inputs: ['x', 'y'] },
    { id: 'sm', op: 'softmax', inputs: ['mt'], params: { axis: 1 } },
    { id: 'ls', op: 'log_softmax', inputs: ['mm'], params: { axis: 0 } },
    { id: 's0', op: 'sum', inputs: ['sm'], params: { axis: 0 } },
    { id: 'me', op: 'mean', inputs: ['ls'] },
    { id: 'mx', op: 'max', inputs: ['mm'], params: { axis: 1 } },
    { id: 'sd', op: 'std', inputs: ['mm'] },
    { id: 'am', op: 'argmax', inputs: ['mm'], params: { axis: 1 } },
    { id: 'cl', op: 'clip', inputs: ['mm'], params: { min: -0.5, max: 0.5 } },
    { id: 'rn', op: 'random_normal', params: { shape: [16, 16], seed: 9 } },
    { id: 'mix', op: 'mul', inputs: ['cl', 'rn'] },
    { id: 'pr', op: 'prod', inputs: ['cl'], params: { axis: 0 } }];
  const out = (g) => g.filter((op) => op.op !== 'tensor').map((op) => op.id);
  return [{ name: 'families-elementwise', ops, outputs: out(ops) },
    { name: 'families-linear', ops: linear, outputs: out(linear) },
    graphs.matmulBranches('families-matmul', { branches: 6, steps: 3, size: 96 })];
}

async function metric(server, name) {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? NaN : Number(line.split(' ')[1]);
}

h.runTest('a tab and a native worker verify each other with no false disagreement', async (t) => {
  t.server = await new h.ServerProcess({ serverBin: h.requireArg(t.args, 'server-bin'), dataDir: t.dataDir,
    wasmDir: t.args.wasmDir, extraArgs: ['--verify', 'replicate'] }).start();
  t.browser = await h.launchBrowser();
  const context = await t.browser.newContext({ viewport: { width: 1280, height: 900 } });
  const tab = await h.openParticipatingTab(context, t.server.url, 'tab');
  const native = spawn(h.requireArg(t.args, 'worker-bin'), ['--server', `ws://127.0.0.1:${t.server.port}`,
    '--name', 'native', '--benchmark-ms', '100'], { stdio: 'ignore' });
  try {
    await h.waitFor('the native worker to benchmark', async () => {
      const w = (await t.server.status()).workers.find((x) => x.name === 'native');
      return w && w.benchmark;
    }, 30000, 100);
    for (const graph of familyGraphs()) {
      const file = path.join(t.dataDir, `${graph.name}.json`);
      graphs.writeGraph(file, graph);
      const result = await h.submitGraph({ corvidBin: h.requireArg(t.args, 'corvid-bin'), server: t.server, file });
      h.check(result.status === 'computed', `${graph.name} computed (got ${result.status}: ${JSON.stringify(result.failed)})`);
    }
    const counters = await h.tabCounters(tab);
    const nativeRow = (await t.server.status()).workers.find((x) => x.name === 'native');
    h.check(counters.groups > 0 && nativeRow.groups_done > 0,
      `both kernels computed groups (tab ${counters.groups}, native ${nativeRow.groups_done})`);
    for (const e of (await t.server.status()).events)
      if (['disagreement', 'wrong'].includes(e.kind)) h.log(`${e.kind}: ${e.message}`);
    const verified = await metric(t.server, 'corvid_groups_verified_total');
    h.check(verified > 0, `${verified} groups verified by both kernels`);
    h.check(await metric(t.server, 'corvid_verification_disagreements_total') === 0, 'no disagreement between wasm and native');
    h.check(await metric(t.server, 'corvid_results_wrong_total') === 0, 'no result proven wrong');
  } finally {
    native.kill('SIGTERM');
  }
});
