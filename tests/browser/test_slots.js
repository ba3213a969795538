// One Chromium tab lends 2 cores: it runs 2 compute slots (Web Workers, each with its own wasm
// kernel and connection), the server lists them as one device with slots 0 and 1, a submitted
// graph is computed on both and matches NumPy, and the status page shows the device. While both
// slots compute, the page's input latency (key press to handler) is measured and printed.
//   node test_slots.js --server-bin PATH --corvid-bin PATH --wasm-dir DIR --artifacts DIR
'use strict';

const path = require('path');
const h = require('./harness');
const graphs = require('./graphs');

h.runTest('a tab with 2 slots computes a graph on both', async (t) => {
  const artifacts = h.requireArg(t.args, 'artifacts');
  const context = await h.startServerAndBrowser(t);
  const tab = await h.openParticipatingTab(context, t.server.url, 'tab', '', { cores: 2 });

  const device = await tab.evaluate(() => localStorage.getItem('corvid.device'));
  h.check(/^[0-9a-f]{16}$/.test(device), `the page keeps a random device id in localStorage (${device})`);
  const listed = (await t.server.status()).workers;
  h.check(listed.length === 2, `/api/status lists 2 workers (${listed.length})`);
  h.check(listed.every((w) => w.device === device), 'both workers name the tab\'s device');
  h.check(listed.map((w) => w.slot).sort().join(',') === '0,1', `the workers are slots 0 and 1 (${listed.map((w) => w.slot)})`);

  // The volunteer's key presses while both slots compute: the delay from the event's time stamp
  // to its handler is the page's input latency.
  await tab.evaluate(() => {
    window.inputDelays = [];
    document.addEventListener('keydown', (e) => window.inputDelays.push(performance.now() - e.timeStamp));
  });
  const file = path.join(t.dataDir, 'branches.json');
  const graph = graphs.writeGraph(file, graphs.matmulBranches('browser-e2e-slots', { branches: 8, steps: 30, size: 512 }));
  const submitted = h.submitGraph({ corvidBin: h.requireArg(t.args, 'corvid-bin'), server: t.server, file });
  let done = false;
  submitted.then(() => { done = true; }, () => { done = true; });
  let presses = 0;
  while (!done && presses < 200) {
    await tab.keyboard.press('Shift');
    presses += 1;
    await h.sleep(20);
  }
  const result = await submitted;
  h.check(result.status === 'computed', `corvid submit reports the graph computed (got ${result.status})`);
  const reference = h.numpyReference(file);
  for (const id of graph.outputs) h.checkClose(id, h.submitValues(result)[id], reference[id]);

  const delays = (await tab.evaluate(() => window.inputDelays)).sort((a, b) => a - b);
  h.check(delays.length > 0, `key presses reached the page while both slots computed (${delays.length})`);
  const quantile = (q) => delays[Math.min(delays.length - 1, Math.floor(q * delays.length))].toFixed(1);
  h.log(`input latency while 2 slots compute: median ${quantile(0.5)} ms, p95 ${quantile(0.95)} ms, ` +
    `max ${delays[delays.length - 1].toFixed(1)} ms over ${delays.length} key presses`);

  const groups = await tab.evaluate(() => [...document.querySelectorAll('#slots tbody tr')].map((r) => Number(r.cells[3].textContent.replace(/,/g, ''))));
  h.log(`groups per slot: ${groups.join(', ')}`);
  h.check(groups.length === 2 && groups.every((g) => g > 0), `both slots computed groups (${groups.join(', ')})`);
  const status = await t.server.status();
  h.check(status.workers.every((w) => w.ops_done > 0), `/api/status credits both slots (${status.workers.map((w) => w.ops_done)})`);
  const counters = await h.tabCounters(tab);
  h.check(counters.ops >= graphs.computedOpCount(graph), `the tab's counters add up both slots (${counters.ops} ops)`);

  const statusPage = await context.newPage();
  await statusPage.goto(`${t.server.url}/status`);
  await statusPage.waitForFunction((d) => [...document.querySelectorAll('#workers tbody tr')]
    .filter((r) => r.textContent.includes(d.slice(0, 8))).length === 2, device, { timeout: 15000 });
  h.check(true, '/status shows both slots with the device');
  await h.screenshots(tab, artifacts, 'participate-2-slots');
  await h.screenshots(statusPage, artifacts, 'status-2-slots');
  h.check(tab.corvidErrors.length === 0, `no script errors on the tab ${JSON.stringify(tab.corvidErrors)}`);
});
