// A tab that closes in the middle of a longer graph loses no work: two tabs participate, a graph
// of dependent chains is submitted, tab A is closed once it has computed groups and the graph is
// still running; the graph completes on tab B with NumPy's values, the server reports tab A's
// worker gone, and /status shows the graph computed. Saves a screenshot of /status mid-graph.
//   node test_tab_closed.js --server-bin PATH --corvid-bin PATH --wasm-dir DIR --artifacts DIR
'use strict';

const path = require('path');
const h = require('./harness');
const graphs = require('./graphs');

h.runTest('closing a tab in the middle of a graph loses no work', async (t) => {
  const context = await h.startServerAndBrowser(t);
  const tabA = await h.openParticipatingTab(context, t.server.url, 'tab A');
  const tabB = await h.openParticipatingTab(context, t.server.url, 'tab B');
  const idA = (await h.tabCounters(tabA)).workerId;

  const file = path.join(t.dataDir, 'chains.json');
  const graph = graphs.writeGraph(file, graphs.matmulBranches('browser-e2e-chains', { branches: 16, steps: 60, size: 256 }));
  const submitted = h.submitGraph({ corvidBin: h.requireArg(t.args, 'corvid-bin'), server: t.server, file });
  submitted.catch(() => {});  // awaited below; keeps an early failure from being unhandled

  // Close tab A once it has done some of the graph and the graph is still far from finished.
  const running = await h.waitFor('tab A to compute groups of the running graph', async () => {
    const a = await h.tabCounters(tabA);
    const g = (await t.server.status()).graphs.find((x) => x.name === 'browser-e2e-chains');
    return a.groups > 0 && g && g.counts.computed > 0 ? { a, g } : null;
  }, 120000, 50);
  await tabA.close();
  const left = running.g.total - running.g.counts.computed - (running.g.counts.failed || 0);
  h.log(`closed tab A after ${running.a.groups} groups; graph ${running.g.id} had ${running.g.counts.computed}/${running.g.total} ops computed`);
  h.check(left > 0, `the graph was still running when tab A closed (${left} ops left)`);
  const beforeB = await h.tabCounters(tabB);

  // The status page while the graph runs on the remaining tab.
  const statusPage = await context.newPage();
  await statusPage.goto(`${t.server.url}/status`);
  await statusPage.waitForFunction(() => document.querySelectorAll('#dag .node').length > 0, null, { timeout: 30000 });
  await h.screenshots(statusPage, h.requireArg(t.args, 'artifacts'), 'status-running');
  await statusPage.close();

  const result = await submitted;
  h.check(result.status === 'computed', `the graph completed after the tab closed (status ${result.status})`);
  const reference = h.numpyReference(file);
  const got = h.submitValues(result);
  for (const id of graph.outputs) h.checkClose(id, got[id], reference[id], 1e-3, 1e-4);
  const afterB = await h.tabCounters(tabB);
  h.check(afterB.ops > beforeB.ops, `tab B computed the rest (${beforeB.ops} → ${afterB.ops} ops)`);

  const status = await h.waitFor('the server to drop tab A\'s worker',
    async () => { const s = await t.server.status(); return s.workers.some((w) => String(w.id) === idA) ? null : s; }, 30000);
  h.check(!status.workers.some((w) => String(w.id) === idA), `/api/status no longer lists worker ${idA}`);
  const g = status.graphs.find((x) => String(x.id) === String(result.graph_id));
  h.check(g && g.status === 'computed' && g.counts.computed === g.total, `/api/status shows graph ${result.graph_id} computed`);
  h.check(tabB.corvidErrors.length === 0, `no script errors on tab B ${JSON.stringify(tabB.corvidErrors)}`);
});
