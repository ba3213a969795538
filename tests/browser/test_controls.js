// The volunteer's controls: Pause while a slot holds a group hands the group back (the graph
// completes on another tab) and disconnects, Resume reconnects the same device and slot without a
// new benchmark; the controls (cores, CPU limit, only while visible, pause on battery), the device
// id and the device's running contribution survive a reload, and the reloaded tab applies them;
// fewer cores end slots and more start them.
//   node test_controls.js --server-bin PATH --corvid-bin PATH --wasm-dir DIR --artifacts DIR
'use strict';

const path = require('path');
const h = require('./harness');
const graphs = require('./graphs');

const state = (page) => page.evaluate(() => document.getElementById('state').dataset.state);

h.runTest('Pause hands back in-flight work; the controls persist across a reload', async (t) => {
  const corvidBin = h.requireArg(t.args, 'corvid-bin');
  const context = await h.startServerAndBrowser(t);
  // Tab A emulates a device 50x slower, so a group it was given stays in its hands for a while
  // (49x its compute time: long enough for the click to land on a loaded machine).
  const tabA = await h.openParticipatingTab(context, t.server.url, 'tab A', '?slowdown=50');
  const tabB = await h.openParticipatingTab(context, t.server.url, 'tab B');
  const idA = (await h.tabCounters(tabA)).workerId;

  // Tab A's volunteer presses Pause the moment a group arrives.
  await h.clickWhenGroupArrives(tabA, 'pause');
  const file = path.join(t.dataDir, 'long.json');
  const graph = graphs.writeGraph(file, graphs.matmulBranches('browser-e2e-pause', { branches: 8, steps: 30, size: 256 }));
  const submitted = h.submitGraph({ corvidBin, server: t.server, file });
  submitted.catch(() => {});  // awaited below

  await tabA.waitForFunction(() => document.getElementById('state').dataset.state === 'paused', null, { timeout: 120000 });
  const shown = await tabA.evaluate(() => `${document.getElementById('state').textContent} · ${document.getElementById('state-detail').textContent}`);
  h.check(/Paused by you/.test(shown), `tab A says it is paused by the volunteer ("${shown}")`);
  // The page shows "paused" at the click; the slot says what it handed back once it has stopped.
  const handedBackShown = () => [...document.querySelectorAll('#log li span')].map((s) => s.textContent)
    .find((text) => text.startsWith('Handed back'));
  await tabA.waitForFunction(handedBackShown, null, { timeout: 15000 }).catch(() => {});
  const handedBack = await tabA.evaluate(handedBackShown);
  h.check(handedBack !== undefined, `Pause handed back tab A's in-flight group ("${handedBack}")`);
  h.check((await tabA.textContent('#pause')) === 'Resume', 'the Pause button offers Resume');
  await h.waitFor(`the server to drop paused worker ${idA}`,
    async () => !(await t.server.status()).workers.some((w) => String(w.id) === idA), 15000);
  h.check(true, `/api/status no longer lists paused worker ${idA}`);
  const result = await submitted;
  h.check(result.status === 'computed', `the graph completed on tab B while tab A paused (${result.status})`);
  const reference = h.numpyReference(file);
  for (const id of graph.outputs) h.checkClose(id, h.submitValues(result)[id], reference[id], 1e-3, 1e-4);

  await tabA.click('#pause');
  await tabA.waitForFunction(() => ['ready', 'working'].includes(document.getElementById('state').dataset.state), null, { timeout: 30000 });
  const deviceA = await tabA.evaluate(() => localStorage.getItem('corvid.device'));
  const newIdA = (await h.tabCounters(tabA)).workerId;
  const resumed = (await t.server.status()).workers.find((w) => String(w.id) === newIdA);
  h.check(resumed !== undefined && resumed.device === deviceA && resumed.slot === 0,
    `Resume reconnected the tab's slot 0 of device ${deviceA} (worker ${newIdA}: ${resumed && [resumed.device, resumed.slot]})`);
  const benchmarks = await tabA.evaluate(() => [...document.querySelectorAll('#log li span')]
    .filter((s) => s.textContent.startsWith('Benchmark:')).length);
  h.check(benchmarks === 1, `Resume ran no new benchmark (${benchmarks} benchmark run)`);

  // The controls on tab B, then a reload: everything comes back from localStorage.
  const before = await tabB.evaluate(() => ({ device: localStorage.getItem('corvid.device'),
    contribution: JSON.parse(localStorage.getItem('corvid.contribution') || '{}') }));
  h.check(before.contribution.ops > 0, `the device's contribution is stored (${before.contribution.ops} ops)`);
  await h.setCores(tabB, 2);
  await tabB.click('#limit input[value="25"] + span');
  await tabB.check('#visible-only');
  await tabB.waitForFunction(() => document.getElementById('worker-id').textContent.includes(','), null, { timeout: 60000 });
  await tabB.reload();
  const after = await tabB.evaluate(() => ({
    cores: document.getElementById('cores').value, limit: document.querySelector('#limit input:checked').value,
    visibleOnly: document.getElementById('visible-only').checked, battery: document.getElementById('battery-pause').checked,
    device: localStorage.getItem('corvid.device'), contribution: JSON.parse(localStorage.getItem('corvid.contribution')),
    shownOps: document.getElementById('contrib-ops').textContent }));
  h.check(after.cores === '2' && after.limit === '25' && after.visibleOnly && !after.battery,
    `the controls came back after a reload (${JSON.stringify(after)})`);
  h.check(after.device === before.device, `the device id is the same (${after.device})`);
  h.check(after.contribution.ops >= before.contribution.ops && after.contribution.visits >= 2,
    `the contribution carried over (${after.contribution.ops} ops over ${after.contribution.visits} visits)`);
  h.check(after.shownOps.replace(/,/g, '') === String(after.contribution.ops), `the page shows it (${after.shownOps} ops)`);
  // The reloaded tab resumes as a participant with the remembered 2 cores at 25%.
  await tabB.waitForFunction(() => /^\d+, \d+$/.test(document.getElementById('worker-id').textContent), null, { timeout: 60000 });
  const cpuText = await tabB.textContent('#use-cpu');
  h.check(/2 cores/.test(cpuText) && /25%/.test(cpuText), `the page states what it uses ("${cpuText}")`);
  const idsB = (await h.tabCounters(tabB)).workerId.split(', ');
  const slots = (await t.server.status()).workers.filter((w) => idsB.includes(String(w.id)));
  h.check(slots.length === 2 && slots.every((w) => w.device === after.device) && slots.map((w) => w.slot).sort().join() === '0,1',
    `the server sees the reloaded tab's 2 slots as slots 0 and 1 of the device (${JSON.stringify(slots.map((w) => [w.id, w.slot]))})`);
  // Fewer cores end the extra slot; more start a new one.
  await h.setCores(tabB, 1);
  await tabB.waitForFunction(() => /^\d+$/.test(document.getElementById('worker-id').textContent) &&
    document.querySelectorAll('#slots tbody tr').length === 1, null, { timeout: 30000 });
  h.check(true, 'lending 1 core ends the second slot');
  await h.setCores(tabB, 2);
  await tabB.waitForFunction(() => /^\d+, \d+$/.test(document.getElementById('worker-id').textContent), null, { timeout: 60000 });
  h.check(true, 'lending 2 cores again starts a second slot');
  await h.screenshots(tabB, h.requireArg(t.args, 'artifacts'), 'participate-controls');
  h.check(tabA.corvidErrors.length === 0 && tabB.corvidErrors.length === 0,
    `no script errors ${JSON.stringify([tabA.corvidErrors, tabB.corvidErrors])}`);
});
