// The examples run on browser tabs: two tabs participate, and `examples/run.sh` runs the
// inference map job (weights sent once and kept by the tabs, slices streamed back) and mapreduce
// (map outputs feeding reduces) against the test's server with no native worker. Each example's
// own check against this process passes, and both tabs computed part of the work.
//   node test_examples.js --server-bin PATH --corvid-bin PATH --wasm-dir DIR --artifacts DIR
//                         --run-sh PATH --build-dir DIR
'use strict';

const { spawn } = require('child_process');
const h = require('./harness');

// Runs `run.sh --build-dir DIR NAME ARGS...` against the test's server; resolves to its output.
function runExample(t, name, args) {
  const runSh = h.requireArg(t.args, 'run-sh');
  const env = { ...process.env, CORVID_SERVER: `ws://127.0.0.1:${t.server.port}`, CORVID_TOKEN: t.server.token() };
  return new Promise((resolve, reject) => {
    const child = spawn(runSh, ['--build-dir', h.requireArg(t.args, 'build-dir'), '--timeout', '200', name, ...args],
      { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    child.on('error', reject);
    child.on('close', (code) => {
      h.log(`examples/run.sh ${name} exited with ${code}:\n${out}`);
      if (code === 0) resolve(out);
      else reject(new Error(`examples/run.sh ${name} exited with ${code}`));
    });
  });
}

h.runTest('the examples run on browser tabs', async (t) => {
  const context = await h.startServerAndBrowser(t);
  const tabs = [await h.openParticipatingTab(context, t.server.url, 'tab A'),
    await h.openParticipatingTab(context, t.server.url, 'tab B')];
  const before = await Promise.all(tabs.map((tab) => h.tabCounters(tab)));

  const inference = await runExample(t, 'inference', ['--slices', '8', '--epochs', '3']);
  h.check(/slice +\d+ \(8\/8\)/.test(inference), 'inference printed all 8 slices as they returned');
  h.check(/0 prediction\(s\) differ from this process's/.test(inference),
    'the tabs predicted exactly what the model predicts in the developer\'s process');

  const mapreduce = await runExample(t, 'mapreduce', ['--maps', '10', '--reduces', '20']);
  h.check(/all \d+ word counts match the single-process count/.test(mapreduce),
    'mapreduce on the tabs matches the single-process word count');

  const after = await Promise.all(tabs.map((tab) => h.tabCounters(tab)));
  after.forEach((a, i) => h.check(a.ops > before[i].ops, `tab ${'AB'[i]} computed ops of the examples (${a.ops - before[i].ops})`));
  const status = await t.server.status();
  h.check(status.workers.length === 2, `only the two tabs were workers (${status.workers.length})`);
  for (const tab of tabs) h.check(tab.corvidErrors.length === 0, `no script errors on a tab ${JSON.stringify(tab.corvidErrors)}`);
});
