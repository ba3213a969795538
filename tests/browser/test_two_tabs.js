// Two Chromium tabs press Participate; `corvid submit` sends a graph; the values match NumPy,
// both tabs computed groups (as their counters say, and as the server says), and the status
// page shows both workers and the graph as computed. Saves screenshots of both pages.
//   node test_two_tabs.js --server-bin PATH --corvid-bin PATH --wasm-dir DIR --artifacts DIR
'use strict';

const path = require('path');
const h = require('./harness');
const graphs = require('./graphs');

h.runTest('two tabs compute a submitted graph; /status shows it', async (t) => {
  const artifacts = h.requireArg(t.args, 'artifacts');
  const context = await h.startServerAndBrowser(t);

  const tabA = await h.openParticipatingTab(context, t.server.url, 'tab A');
  const tabB = await h.openParticipatingTab(context, t.server.url, 'tab B');
  const idA = (await h.tabCounters(tabA)).workerId, idB = (await h.tabCounters(tabB)).workerId;
  h.check(idA !== idB, `each tab got its own worker id (${idA}, ${idB})`);

  const file = path.join(t.dataDir, 'branches.json');
  const graph = graphs.writeGraph(file, graphs.matmulBranches('browser-e2e-branches', { branches: 24, steps: 3, size: 256 }));
  const result = await h.submitGraph({ corvidBin: h.requireArg(t.args, 'corvid-bin'), server: t.server, file });
  h.check(result.status === 'computed', `corvid submit reports the graph computed (got ${result.status})`);
  const reference = h.numpyReference(file);
  const got = h.submitValues(result);
  for (const id of graph.outputs) {
    h.check(got[id] !== undefined, `corvid submit returned output ${id}`);
    h.checkClose(id, got[id], reference[id]);
  }

  // Both tabs computed groups, and the server credits each with some of the ops.
  const a = await h.tabCounters(tabA), b = await h.tabCounters(tabB);
  h.log(`tab A: ${a.groups} groups, ${a.ops} ops; tab B: ${b.groups} groups, ${b.ops} ops`);
  h.check(a.groups > 0 && b.groups > 0, 'both tabs computed at least one group');
  h.check(a.ops + b.ops >= graphs.computedOpCount(graph),
    `the tabs together computed every op of the graph (${a.ops + b.ops} >= ${graphs.computedOpCount(graph)})`);
  h.check(a.errors === 0 && b.errors === 0, 'no tab reported an error');
  const status = await t.server.status();
  for (const [id, counters] of [[idA, a], [idB, b]]) {
    const w = status.workers.find((x) => String(x.id) === id);
    h.check(w !== undefined, `/api/status lists worker ${id}`);
    // A tab may also have computed groups whose results came after another worker's (late
    // duplicates are ignored), so the server credits at most what the tab counted.
    h.check(w.ops_done > 0 && w.ops_done <= counters.ops,
      `/api/status credits worker ${id} with ${w.ops_done} ops (0 < credited <= ${counters.ops} the tab computed)`);
  }

  // The status page, as an operator sees it.
  const statusPage = await context.newPage();
  const statusErrors = [];
  statusPage.on('pageerror', (e) => statusErrors.push(e.message));
  await statusPage.goto(`${t.server.url}/status`);
  await statusPage.waitForFunction(([x, y]) => {
    const ids = [...document.querySelectorAll('#workers tbody tr')].map((r) => r.dataset.worker);
    return ids.includes(x) && ids.includes(y);
  }, [idA, idB], { timeout: 15000 });
  h.check(true, '/status lists both workers');
  const graphId = String(result.graph_id);
  await statusPage.waitForFunction((id) => {
    const row = document.querySelector(`#graphs tr.graph-row[data-graph="${id}"] .graph-status`);
    return row && row.textContent === 'computed';
  }, graphId, { timeout: 15000 });
  h.check(true, `/status shows graph ${graphId} as computed`);
  await statusPage.waitForFunction((id) => document.getElementById('dag').dataset.graph === id &&
    document.querySelectorAll('#dag .node').length > 0, graphId, { timeout: 15000 });
  const nodes = await statusPage.evaluate(() => [...document.querySelectorAll('#dag .node')].map((n) => n.dataset.status));
  h.check(nodes.length === graph.ops.length, `the DAG view draws all ${graph.ops.length} ops (${nodes.length})`);
  h.check(nodes.every((s) => s === 'computed'), 'every op in the DAG view is coloured computed');

  await h.screenshots(tabA, artifacts, 'participate');
  await h.screenshots(statusPage, artifacts, 'status');
  h.check(tabA.corvidErrors.length === 0 && tabB.corvidErrors.length === 0,
    `no script errors on the Participate pages ${JSON.stringify(tabA.corvidErrors.concat(tabB.corvidErrors))}`);
  h.check(statusErrors.length === 0, `no script errors on the status page ${JSON.stringify(statusErrors)}`);
});
