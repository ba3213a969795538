// Several servers (issue 16): the Participate page on server 1, whose --peers names server 2,
// keeps the welcome's `servers`; when server 1 is killed, each of the tab's two slots fails over
// to server 2 by itself, the page shows server 2, and the slots compute a graph submitted there.
// Then an operator drains server 2 toward server 1 (restarted): a native corvid-worker and the
// tab's slots follow the redirect and arrive on server 1.
//   node test_failover.js --server-bin PATH --corvid-bin PATH --worker-bin PATH --wasm-dir DIR --artifacts DIR
'use strict';

const fs = require('fs');
const net = require('net');
const path = require('path');
const { spawn } = require('child_process');
const h = require('./harness');
const graphs = require('./graphs');

// A TCP port free on loopback now (servers need each other's ports before they start).
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

// The names of the workers /api/status of `server` lists.
async function workerNames(server) { return (await server.status()).workers.map((w) => w.name); }

h.runTest('the page fails over to its server\'s peer, and a drain moves workers back', async (t) => {
  const serverBin = h.requireArg(t.args, 'server-bin');
  const corvidBin = h.requireArg(t.args, 'corvid-bin');
  const [port1, port2] = [await freePort(), await freePort()];
  const url1 = `ws://127.0.0.1:${port1}`, url2 = `ws://127.0.0.1:${port2}`;
  const dataDir2 = h.tempDir('corvid-browser-test-peer-');
  const start1 = () => new h.ServerProcess({ serverBin, dataDir: t.dataDir, port: port1, wasmDir: t.args.wasmDir,
    extraArgs: ['--peers', url2] }).start();
  t.server = await start1();
  const server2 = await new h.ServerProcess({ serverBin, dataDir: dataDir2, port: port2, wasmDir: t.args.wasmDir,
    extraArgs: ['--peers', url1] }).start();
  let native = null;
  try {
    t.browser = await h.launchBrowser();
    const context = await t.browser.newContext({ viewport: { width: 1280, height: 900 } });
    const tab = await h.openParticipatingTab(context, t.server.url, 'tab', '', { cores: 2 });
    const shownServer = () => tab.evaluate(() => document.getElementById('server').textContent);
    h.check(await shownServer() === `127.0.0.1:${port1}`, `the page shows server 1 (${await shownServer()})`);

    // Server 1 dies: both slots reconnect to server 2, which they know only from the welcome.
    t.server.child.kill('SIGKILL');
    await t.server.exited;
    await h.waitFor('both slots to fail over to server 2', async () => (await server2.status()).workers
      .filter((w) => w.benchmark && typeof w.slot === 'number').length === 2, 60000, 200);
    h.check(true, 'both slots of the tab are workers of server 2');
    await tab.waitForFunction((want) => document.getElementById('server').textContent === want,
      `127.0.0.1:${port2}`, { timeout: 15000 });
    h.check(true, `the page shows server 2 (127.0.0.1:${port2})`);
    const stateLine = await tab.evaluate(() => document.getElementById('state-detail').textContent);
    h.check(stateLine === `2 cores on 127.0.0.1:${port2}`, `the state line names server 2, not the page's origin ("${stateLine}")`);
    await h.screenshots(tab, h.requireArg(t.args, 'artifacts'), 'participate-failed-over');

    const file = path.join(t.dataDir, 'on-server-2.json');
    const graph = graphs.writeGraph(file, graphs.matmulBranches('browser-failover', { branches: 4, steps: 2, size: 32 }));
    const before = await h.tabCounters(tab);
    const result = await h.submitGraph({ corvidBin, server: server2, file });
    h.check(result.status === 'computed', `a graph submitted to server 2 computed (${result.status})`);
    const reference = h.numpyReference(file);
    for (const id of graph.outputs) h.checkClose(id, h.submitValues(result)[id], reference[id]);
    const after = await h.tabCounters(tab);
    h.check(after.ops > before.ops, `the failed-over slots computed it (${after.ops - before.ops} ops)`);

    // Server 1 is back; an operator drains server 2 toward it: the native worker and the slots move.
    t.server = await start1();
    const nativeLog = path.join(t.dataDir, 'native-worker.log');
    native = spawn(h.requireArg(t.args, 'worker-bin'), ['--server', url2, '--name', 'native', '--benchmark-ms', '100'],
      { stdio: ['ignore', 'ignore', fs.openSync(nativeLog, 'w')] });
    await h.waitFor('the native worker on server 2', async () => (await workerNames(server2)).includes('native'),
      30000, 100);
    const response = await fetch(`${server2.url}/api/drain?url=${encodeURIComponent(url1)}`,
      { method: 'POST', headers: { Authorization: `Bearer ${server2.token()}` } });
    const drained = await response.json();
    h.check(response.ok && drained.redirected === 3, `the drain redirected 3 free workers (${JSON.stringify(drained)})`);
    // /api/status gives a native worker "slot": null and a tab's slots a number.
    try {
      await h.waitFor('the native worker and both slots on server 1', async () => {
        const workers = (await t.server.status()).workers;
        return workers.some((w) => w.name === 'native') && workers.filter((w) => typeof w.slot === 'number').length === 2;
      }, 60000, 200);
    } catch (e) {
      const activity = await tab.evaluate(() => document.getElementById('log').innerText).catch(() => '');
      h.log(`native worker's log:\n${fs.readFileSync(nativeLog, 'utf8')}--- server 2 output ---\n${server2.output}` +
        `--- the tab's activity ---\n${activity}`);
      throw e;
    }
    h.check(true, 'the native worker and both slots followed the redirect to server 1');
    h.check((await server2.status()).workers.length === 0, 'server 2 has no worker left');
    await tab.waitForFunction((want) => document.getElementById('server').textContent === want,
      `127.0.0.1:${port1}`, { timeout: 15000 });
    h.check(tab.corvidErrors.length === 0, `no script errors on the tab ${JSON.stringify(tab.corvidErrors)}`);
  } finally {
    if (native) native.kill('SIGKILL');
    await server2.stop().catch(() => {});
    fs.rmSync(dataDir2, { recursive: true, force: true });
  }
});
