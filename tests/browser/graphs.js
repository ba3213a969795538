// Graph files for the browser tests and benchmark (the format of README, "The graph file"), with
// deterministic values so NumPy can recompute them (tests/browser/numpy_reference.py).
'use strict';

const fs = require('fs');

// Deterministic values in [-1, 1) rounded to 3 decimals (short JSON, exact in float32 input).
function values(count, seed) {
  let state = (seed * 2654435761 + 12345) >>> 0;
  const out = new Array(count);
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = Math.round(((state / 4294967296) * 2 - 1) * 1000) / 1000;
  }
  return out;
}

// A nested list of shape [rows, cols] of values(rows × cols, seed) scaled by `scale`.
function matrix(rows, cols, seed, scale = 1) {
  const flat = values(rows * cols, seed);
  const out = [];
  for (let r = 0; r < rows; r++) out.push(flat.slice(r * cols, (r + 1) * cols).map((v) => Math.round(v * scale * 1000) / 1000));
  return out;
}

// `branches` independent branches of `steps` dependent steps each, sharing two size×size
// matrices W and U:  x_0 = ones(size, size) * v_i + U,  x_k = tanh(x_{k-1} @ W + U)  (output
// x_steps). W is scaled so that each step contracts: float32 rounding differences between
// Corvid and NumPy shrink instead of growing along a branch. The work (2·size³ flops per step)
// is heavy enough for the scheduler to spread it over several workers, while the graph file
// stays small (only W, U and the v_i travel as values).
function matmulBranches(name, { branches, steps, size }) {
  const ops = [
    { id: 'W', op: 'tensor', value: matrix(size, size, 7, 1 / Math.sqrt(size)), dtype: 'float32' },
    { id: 'U', op: 'tensor', value: matrix(size, size, 11), dtype: 'float32' },
  ];
  const outputs = [];
  for (let b = 0; b < branches; b++) {
    ops.push({ id: `v${b}`, op: 'tensor', value: values(size, 100 + b), dtype: 'float32' });
    ops.push({ id: `one${b}`, op: 'ones', params: { shape: [size, size] } });
    ops.push({ id: `s${b}`, op: 'mul', inputs: [`one${b}`, `v${b}`] });
    ops.push({ id: `x${b}_0`, op: 'add', inputs: [`s${b}`, 'U'] });
    for (let k = 1; k <= steps; k++) {
      ops.push({ id: `m${b}_${k}`, op: 'matmul', inputs: [`x${b}_${k - 1}`, 'W'] });
      ops.push({ id: `a${b}_${k}`, op: 'add', inputs: [`m${b}_${k}`, 'U'] });
      ops.push({ id: `x${b}_${k}`, op: 'tanh', inputs: [`a${b}_${k}`] });
    }
    outputs.push(`x${b}_${steps}`);
  }
  return { name, ops, outputs };
}

function writeGraph(file, graph) {
  fs.writeFileSync(file, JSON.stringify(graph));
  return graph;
}

// How many ops of the graph workers compute: all but the sources, which the server computes at
// submission (docs/protocol.md; the filled sources here are far below its 4 MB limit).
function computedOpCount(graph) { return graph.ops.filter((op) => !['tensor', 'ones', 'zeros'].includes(op.op)).length; }

module.exports = { values, matrix, matmulBranches, writeGraph, computedOpCount };
