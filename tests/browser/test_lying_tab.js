// A lying tab is caught and quarantined, and no wrong value reaches the developer: the server
// (default policy, adaptive) serves a copy of web/ whose compute slot flips the sign of the last
// value of every result it returns (a modified page, made by this test harness only: the public
// page has no such option), next to an honest native corvid-worker. Every graph's values match
// NumPy, /api/status shows the tab quarantined with the evidence, and /metrics counts its wrong
// results.
//   node test_lying_tab.js --server-bin PATH --corvid-bin PATH --worker-bin PATH --wasm-dir DIR
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');
const h = require('./harness');
const graphs = require('./graphs');

const WEB = path.join(__dirname, '..', '..', 'web');

// A copy of web/ whose slot lies: every `result` frame goes out with the sign bit of its last
// byte flipped (the last float32 value, little-endian).
function lyingWebDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corvid-lying-web-'));
  fs.cpSync(WEB, dir, { recursive: true, dereference: true });
  const file = path.join(dir, 'participate-worker.js');
  const honest = fs.readFileSync(file, 'utf8');
  const anchor = 'function finish(group, reply, header, wallMs, rested = false) {\n';
  if (!honest.includes(anchor)) throw new Error(`participate-worker.js has no "${anchor.trim()}" to patch`);
  fs.writeFileSync(file, honest.replace(anchor,
    `${anchor}  if (header.type === 'result') { reply = reply.slice(); reply[reply.length - 1] ^= 0x80; }  // the lie\n`));
  return dir;
}

h.runTest('a lying tab is quarantined and no wrong value reaches the developer', async (t) => {
  const webDir = lyingWebDir();
  try {
    t.server = await new h.ServerProcess({ serverBin: h.requireArg(t.args, 'server-bin'), dataDir: t.dataDir,
      wasmDir: t.args.wasmDir, webDir }).start();
    t.browser = await h.launchBrowser();
    const context = await t.browser.newContext({ viewport: { width: 1280, height: 900 } });
    const tab = await h.openParticipatingTab(context, t.server.url, 'liar', '', { cores: 1 });
    const native = spawn(h.requireArg(t.args, 'worker-bin'), ['--server', `ws://127.0.0.1:${t.server.port}`,
      '--name', 'honest', '--benchmark-ms', '100'], { stdio: 'ignore' });
    try {
      await h.waitFor('the native worker to benchmark', async () => {
        const w = (await t.server.status()).workers.find((x) => x.name === 'honest');
        return w && w.benchmark;
      }, 30000, 100);
      const reference = {};
      for (let i = 0; i < 4; i += 1) {
        const file = path.join(t.dataDir, `branches-${i}.json`);
        const graph = graphs.writeGraph(file, graphs.matmulBranches(`lying-tab-${i}`, { branches: 8, steps: 3, size: 64 }));
        const result = await h.submitGraph({ corvidBin: h.requireArg(t.args, 'corvid-bin'), server: t.server, file });
        h.check(result.status === 'computed', `graph ${i} computed (got ${result.status})`);
        Object.assign(reference, h.numpyReference(file));
        for (const id of graph.outputs) h.checkClose(`graph ${i} ${id}`, h.submitValues(result)[id], reference[id], 1e-3, 1e-4);
      }
      const counters = await h.tabCounters(tab);
      h.check(counters.groups > 0, `the lying tab returned results (${counters.groups} groups)`);
      const status = await t.server.status();
      const liar = status.workers.find((w) => w.user_agent && w.user_agent.includes('Chrome'));
      h.check(liar && liar.quarantined && liar.evidence && liar.evidence.largest_difference > 0,
        `the tab is quarantined with evidence (${JSON.stringify(liar && { quarantined: liar.quarantined, evidence: liar.evidence })})`);
      const honest = status.workers.find((w) => w.name === 'honest');
      h.check(honest && !honest.quarantined && honest.wrong === 0, 'the native worker was never proven wrong');
    } finally {
      native.kill('SIGTERM');
    }
  } finally {
    fs.rmSync(webDir, { recursive: true, force: true });
  }
});
