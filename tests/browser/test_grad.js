// One Chromium tab presses Participate; `corvid submit` sends a small float64 classifier with
// grad ops (an embedding gather, tanh layer, log_softmax cross-entropy, a sort term, an L2
// term). The server expands the grads into ordinary ops and the tab's wasm kernel computes the
// backward pass; every gradient matches central differences of a NumPy forward pass
// (tests/browser/grad_reference.py).
//   node test_grad.js --server-bin PATH --corvid-bin PATH --wasm-dir DIR --artifacts DIR
'use strict';

const path = require('path');
const { execFileSync } = require('child_process');
const h = require('./harness');
const graphs = require('./graphs');

function classifier() {
  const t = (id, rows, cols, seed) => ({ id, op: 'tensor', value: graphs.matrix(rows, cols, seed), dtype: 'float64' });
  const op = (id, name, inputs, params = {}) => ({ id, op: name, inputs, params });
  const ops = [
    t('E', 7, 4, 1), t('W1', 4, 5, 2), t('W2', 5, 3, 3),
    { id: 'b1', op: 'tensor', value: graphs.values(5, 4), dtype: 'float64' },
    { id: 'ids', op: 'tensor', value: [0, 3, 6, 3, 1, 5], dtype: 'int32' },
    { id: 'labels', op: 'tensor', value: [2, 0, 1, 1, 0, 2], dtype: 'int32' },
    op('x', 'gather', ['E', 'ids']),
    op('xw', 'matmul', ['x', 'W1']),
    op('pre', 'add', ['xw', 'b1']),
    op('h', 'tanh', ['pre']),
    op('logits', 'matmul', ['h', 'W2']),
    op('lp', 'log_softmax', ['logits'], { axis: -1 }),
    op('hot', 'one_hot', ['labels'], { depth: 3 }),
    op('picked', 'mul', ['hot', 'lp']),
    op('nll', 'sum', ['picked']),
    op('ce', 'neg', ['nll']),
    op('sorted', 'sort', ['h'], { axis: -1 }),
    op('sh', 'mul', ['sorted', 'h']),
    op('st', 'mean', ['sh']),
    op('w1sq', 'square', ['W1']),
    op('l2', 'sum', ['w1sq']),
    op('a', 'add', ['ce', 'st']),
    op('loss', 'add', ['a', 'l2']),
  ];
  for (const w of ['E', 'W1', 'b1', 'W2']) ops.push({ id: `d${w}`, op: 'grad', inputs: ['loss', w] });
  return { name: 'browser-grad', ops, outputs: ['loss', 'dE', 'dW1', 'db1', 'dW2'] };
}

h.runTest('a tab computes the backward pass of grad ops; gradients match central differences', async (t) => {
  const context = await h.startServerAndBrowser(t);
  const tab = await h.openParticipatingTab(context, t.server.url, 'tab');
  const file = path.join(t.dataDir, 'grad.json');
  const graph = graphs.writeGraph(file, classifier());
  const result = await h.submitGraph({ corvidBin: h.requireArg(t.args, 'corvid-bin'), server: t.server, file });
  h.check(result.status === 'computed', `corvid submit reports the graph computed (got ${result.status})`);
  const reference = JSON.parse(execFileSync('/usr/bin/python3', [path.join(__dirname, 'grad_reference.py'), file],
    { encoding: 'utf8' }));
  const got = h.submitValues(result);
  for (const id of graph.outputs) {
    h.check(got[id] !== undefined && got[id].dtype === 'float64', `corvid submit returned float64 output ${id}`);
    h.checkClose(id, got[id], reference[id], 1e-5, 1e-7);
  }
  const counters = await h.tabCounters(tab);
  h.log(`tab: ${counters.groups} groups, ${counters.ops} ops`);
  h.check(counters.ops > graph.ops.length, `the tab computed the expanded backward pass too (${counters.ops} ops)`);
  h.check(counters.errors === 0 && tab.corvidErrors.length === 0, 'no errors in the tab');
});
