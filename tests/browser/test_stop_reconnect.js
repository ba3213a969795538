// The Participate page's Stop button and its reconnection: Stop pressed while a tab holds a group
// hands the group back and disconnects (the server drops the worker, the graph completes on the
// other tab); when the server goes away the page says so and retries, and once the server is
// back on the same port the tab reconnects without re-running its benchmark and computes a newly
// submitted graph.
//   node test_stop_reconnect.js --server-bin PATH --corvid-bin PATH --wasm-dir DIR --artifacts DIR
'use strict';

const path = require('path');
const h = require('./harness');
const graphs = require('./graphs');

h.runTest('Stop hands back in-flight work; a tab survives a server restart', async (t) => {
  const serverBin = h.requireArg(t.args, 'server-bin');
  const corvidBin = h.requireArg(t.args, 'corvid-bin');
  const context = await h.startServerAndBrowser(t);
  // Tab A emulates a device 10x slower: it holds each computed group's reply back for 9x its
  // compute time, so a group it was given stays in its hands for a while.
  const tabA = await h.openParticipatingTab(context, t.server.url, 'tab A', '?slowdown=10');
  const tabB = await h.openParticipatingTab(context, t.server.url, 'tab B');
  const idA = (await h.tabCounters(tabA)).workerId;

  // Tab A's volunteer presses Stop the moment a group arrives: the page shows "Group N" when its
  // worker starts a group, and the Stop reaches the worker while it computes or holds that group
  // (a group held for only some milliseconds would make a later click a race).
  await h.clickWhenGroupArrives(tabA, 'stop');

  const longFile = path.join(t.dataDir, 'long.json');
  const longGraph = graphs.writeGraph(longFile, graphs.matmulBranches('browser-e2e-stop', { branches: 8, steps: 30, size: 256 }));
  const submitted = h.submitGraph({ corvidBin, server: t.server, file: longFile });
  submitted.catch(() => {});  // awaited below; keeps an early failure from being unhandled

  // Stopped while holding a group, tab A hands the group back, says so, and disconnects.
  await tabA.waitForFunction(() => document.getElementById('state').dataset.state === 'stopped', null, { timeout: 120000 });
  const handedBack = await tabA.evaluate(() => [...document.querySelectorAll('#log li span')].map((s) => s.textContent)
    .find((text) => text.startsWith('Handed back')));
  h.check(handedBack !== undefined, `Stop handed back tab A's in-flight group ("${handedBack}")`);
  h.check(await tabA.isEnabled('#participate'), 'after Stop the tab offers Participate again');
  await h.waitFor(`the server to drop stopped worker ${idA}`,
    async () => !(await t.server.status()).workers.some((w) => String(w.id) === idA), 15000);
  h.check(true, `/api/status no longer lists stopped worker ${idA}`);
  const longResult = await submitted;
  h.check(longResult.status === 'computed', `the graph completed on tab B after tab A stopped (${longResult.status})`);
  const longReference = h.numpyReference(longFile);
  for (const id of longGraph.outputs) h.checkClose(id, h.submitValues(longResult)[id], longReference[id], 1e-3, 1e-4);

  // The server goes away: tab B says it lost the server and retries.
  const port = t.server.port;
  await t.server.stop();
  await tabB.waitForFunction(() => document.getElementById('state').dataset.state === 'reconnecting', null, { timeout: 15000 });
  const shown = await tabB.evaluate(() => `${document.getElementById('state').textContent} · ${document.getElementById('state-detail').textContent}`);
  h.check(/unreachable/i.test(shown) && /retrying/i.test(shown), `tab B says the server is gone and it retries ("${shown}")`);
  await h.screenshots(tabB, h.requireArg(t.args, 'artifacts'), 'participate-reconnecting');

  // The server comes back on the same port with the same data: tab B reconnects by itself.
  t.server = await new h.ServerProcess({ serverBin, dataDir: t.dataDir, port, wasmDir: t.args.wasmDir }).start();
  await tabB.waitForFunction(() => ['ready', 'working'].includes(document.getElementById('state').dataset.state),
    null, { timeout: 60000 });
  const benchmarks = await tabB.evaluate(() => [...document.querySelectorAll('#log li span')]
    .filter((s) => s.textContent.startsWith('Benchmark:')).length);
  h.check(benchmarks === 1, `tab B reconnected without re-running its benchmark (${benchmarks} benchmark run)`);

  const file = path.join(t.dataDir, 'after-restart.json');
  const graph = graphs.writeGraph(file, graphs.matmulBranches('browser-e2e-after-restart', { branches: 4, steps: 2, size: 32 }));
  const before = await h.tabCounters(tabB);
  const result = await h.submitGraph({ corvidBin, server: t.server, file });
  h.check(result.status === 'computed', `a graph submitted after the restart computed (${result.status})`);
  const reference = h.numpyReference(file);
  for (const id of graph.outputs) h.checkClose(id, h.submitValues(result)[id], reference[id]);
  const after = await h.tabCounters(tabB);
  h.check(after.ops - before.ops >= graphs.computedOpCount(graph), `the reconnected tab B computed it (${after.ops - before.ops} ops)`);
  h.check(tabB.corvidErrors.length === 0, `no script errors on tab B ${JSON.stringify(tabB.corvidErrors)}`);
});
