// One Chromium tab presses Participate; `corvid submit` sends two float64 graphs with grad ops:
// a small classifier (an embedding gather, tanh layer, log_softmax cross-entropy, a sort term,
// an L2 term), a sum of one term per differentiable op, and a small CNN. The server expands the grads into
// ordinary ops and the tab's wasm kernel computes the backward passes; every gradient matches
// central differences of a NumPy forward pass (tests/browser/grad_reference.py).
//   node test_grad.js --server-bin PATH --corvid-bin PATH --wasm-dir DIR --artifacts DIR
'use strict';

const path = require('path');
const { execFileSync } = require('child_process');
const h = require('./harness');
const graphs = require('./graphs');

// A float64 matrix tensor op, and an op of the table.
const t = (id, rows, cols, seed) => ({ id, op: 'tensor', value: graphs.matrix(rows, cols, seed), dtype: 'float64' });
const op = (id, name, inputs, params = {}) => ({ id, op: name, inputs, params });

function classifier() {
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

// One term per differentiable op (mostly), each reduced by mean; the loss is the sum of the
// stacked terms. A, B positive where a domain needs it; M = N + 3 I is well conditioned.
function everyRule() {
  const t = (id, rows, cols, seed, shift = 0) => ({ id, op: 'tensor', dtype: 'float64',
    value: graphs.matrix(rows, cols, seed).map((r) => r.map((v) => Math.round((v + shift) * 1000) / 1000)) });
  const ops = [
    t('A', 3, 4, 21), t('C', 3, 4, 22, 2), t('N', 3, 3, 23),
    { id: 'B', op: 'tensor', value: graphs.values(4, 24), dtype: 'float64' },
    { id: 'three', op: 'tensor', value: [[3, 0, 0], [0, 3, 0], [0, 0, 3]], dtype: 'float64' },
    { id: 'zero', op: 'tensor', value: 0, dtype: 'float64' },
    { id: 'M', op: 'add', inputs: ['N', 'three'] },
  ];
  const terms = [];
  const term = (name, inputs, params = {}) => {
    const id = `t${terms.length}`;
    ops.push({ id: `${id}_v`, op: name, inputs, params });
    ops.push({ id, op: 'mean', inputs: [`${id}_v`] });
    terms.push(id);
  };
  for (const name of ['neg', 'abs', 'exp', 'square', 'cube', 'sin', 'cos', 'tanh', 'sigmoid', 'relu']) term(name, ['A']);
  for (const name of ['log', 'sqrt', 'cbrt', 'reciprocal']) term(name, ['C']);
  term('sub', ['A', 'B']); term('mul', ['A', 'B']); term('div', ['A', 'C']); term('pow', ['C', 'B']);
  term('maximum', ['A', 'B']); term('minimum', ['B', 'A']);
  ops.push({ id: 'pos', op: 'greater', inputs: ['A', 'zero'] });
  term('where', ['pos', 'A', 'B']); term('clip', ['A'], { min: -0.4567, max: 0.4321 });
  term('softmax', ['A'], { axis: 0 }); term('log_softmax', ['C'], { axis: -1 });
  term('sum', ['A'], { axis: -1, keepdims: true }); term('prod', ['C'], { axis: 1 });
  term('max', ['A'], { axis: 1, keepdims: true }); term('min', ['A'], { axis: [0, 1] });
  term('var', ['A'], { axis: 0, ddof: 1 }); term('std', ['C'], { axis: -1 }); term('average', ['A', 'C'], { axis: 1 });
  term('matmul', ['M', 'A']); term('dot', ['A', 'B']); term('transpose', ['A']); term('inv', ['M']);
  term('reshape', ['A'], { shape: [2, -1] }); term('flatten', ['C']); term('expand_dims', ['A'], { axis: [0] });
  term('concat', ['A', 'C'], { axis: 0 }); term('stack', ['A', 'C'], { axis: -1 });
  term('split', ['C'], { axis: 1, sections: 2, index: 1 }); term('slice', ['A'], { begin: [1, -3], size: [-1, 2] });
  term('reverse', ['A'], { axis: [1] }); term('tile', ['B'], { reps: [2, 2] }); term('sort', ['A'], { axis: 0 });
  term('set_value', ['C'], { index: [0, 1], value: 5 });
  // Terms weighted by their position, so that each one counts differently in the loss.
  ops.push({ id: 'terms', op: 'stack', inputs: terms });
  ops.push({ id: 'weights', op: 'tensor', value: terms.map((_, i) => 1 + i / 10), dtype: 'float64' });
  ops.push({ id: 'weighted', op: 'mul', inputs: ['terms', 'weights'] });
  ops.push({ id: 'loss', op: 'sum', inputs: ['weighted'] });
  for (const w of ['A', 'B', 'C', 'N']) ops.push({ id: `d${w}`, op: 'grad', inputs: ['loss', w] });
  return { name: 'browser-grad-every-rule', ops, outputs: ['loss', 'dA', 'dB', 'dC', 'dN'] };
}

// A small CNN: conv2d (bias, padding), tanh, max_pool2d, avg_pool2d (padding), matmul, cross_entropy.
function cnn() {
  const ops = [
    t('X', 2, 36, 31), t('K', 3, 9, 32), t('W', 48, 4, 33),
    { id: 'b', op: 'tensor', value: graphs.values(3, 34), dtype: 'float64' },
    { id: 'labels', op: 'tensor', value: [3, 1], dtype: 'int32' },
    op('x', 'reshape', ['X'], { shape: [2, 1, 6, 6] }),
    op('k', 'reshape', ['K'], { shape: [3, 1, 3, 3] }),
    op('c', 'conv2d', ['x', 'k', 'b'], { stride: [1, 1], padding: [1, 1] }),
    op('a', 'tanh', ['c']),
    op('p', 'max_pool2d', ['a'], { kernel: [2, 2] }),
    op('q', 'avg_pool2d', ['p'], { kernel: 2, stride: 1, padding: 1 }),
    op('f', 'reshape', ['q'], { shape: [2, 48] }),
    op('logits', 'matmul', ['f', 'W']),
    op('loss', 'cross_entropy', ['logits', 'labels']),
  ];
  for (const w of ['X', 'K', 'b', 'W']) ops.push({ id: `d${w}`, op: 'grad', inputs: ['loss', w] });
  return { name: 'browser-grad-cnn', ops, outputs: ['loss', 'dX', 'dK', 'db', 'dW'] };
}

h.runTest('a tab computes the backward pass of grad ops; gradients match central differences', async (t) => {
  const context = await h.startServerAndBrowser(t);
  const tab = await h.openParticipatingTab(context, t.server.url, 'tab');
  let opsSubmitted = 0;
  for (const [name, graph] of [['classifier', classifier()], ['every_rule', everyRule()], ['cnn', cnn()]]) {
    const file = path.join(t.dataDir, `${name}.json`);
    graphs.writeGraph(file, graph);
    const result = await h.submitGraph({ corvidBin: h.requireArg(t.args, 'corvid-bin'), server: t.server, file });
    h.check(result.status === 'computed', `${name}: corvid submit reports the graph computed (got ${result.status})`);
    const reference = JSON.parse(execFileSync('/usr/bin/python3', [path.join(__dirname, 'grad_reference.py'), file],
      { encoding: 'utf8' }));
    const got = h.submitValues(result);
    for (const id of graph.outputs) {
      h.check(got[id] !== undefined && got[id].dtype === 'float64', `${name}: corvid submit returned float64 output ${id}`);
      h.checkClose(`${name} ${id}`, got[id], reference[id], 1e-5, 1e-7);
    }
    opsSubmitted += graph.ops.length;
  }
  const counters = await h.tabCounters(tab);
  h.log(`tab: ${counters.groups} groups, ${counters.ops} ops`);
  h.check(counters.ops > opsSubmitted, `the tab computed the expanded backward passes too (${counters.ops} ops)`);
  h.check(counters.errors === 0 && tab.corvidErrors.length === 0, 'no errors in the tab');
});
