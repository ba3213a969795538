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

// `branches` independent branches (so the scheduler can spread them over workers), each
//   a_i, b_i (size×size) → c_i = a_i @ b_i → d_i = c_i + a_i → e_i = tanh(d_i)   (output e_i).
function branchesGraph(name, branches, size) {
  const ops = [];
  const outputs = [];
  for (let i = 0; i < branches; i++) {
    ops.push({ id: `a${i}`, op: 'tensor', value: matrix(size, size, 2 * i + 1), dtype: 'float32' });
    ops.push({ id: `b${i}`, op: 'tensor', value: matrix(size, size, 2 * i + 2, 1 / Math.sqrt(size)), dtype: 'float32' });
    ops.push({ id: `c${i}`, op: 'matmul', inputs: [`a${i}`, `b${i}`] });
    ops.push({ id: `d${i}`, op: 'add', inputs: [`c${i}`, `a${i}`] });
    ops.push({ id: `e${i}`, op: 'tanh', inputs: [`d${i}`] });
    outputs.push(`e${i}`);
  }
  return { name, ops, outputs };
}

// `chains` independent chains of `steps` dependent steps x ← tanh(x @ W) with one shared
// W (size×size) and x0 of shape [rows, size]: a longer graph, for closing a tab in its middle.
function chainsGraph(name, chains, steps, rows, size) {
  const ops = [{ id: 'W', op: 'tensor', value: matrix(size, size, 7, 2 / Math.sqrt(size)), dtype: 'float32' }];
  const outputs = [];
  for (let c = 0; c < chains; c++) {
    ops.push({ id: `x${c}_0`, op: 'tensor', value: matrix(rows, size, 100 + c), dtype: 'float32' });
    for (let s = 1; s <= steps; s++) {
      ops.push({ id: `m${c}_${s}`, op: 'matmul', inputs: [`x${c}_${s - 1}`, 'W'] });
      ops.push({ id: `x${c}_${s}`, op: 'tanh', inputs: [`m${c}_${s}`] });
    }
    outputs.push(`x${c}_${steps}`);
  }
  return { name, ops, outputs };
}

function writeGraph(file, graph) {
  fs.writeFileSync(file, JSON.stringify(graph));
  return graph;
}

// How many ops of the graph a worker computes (every op but the tensor sources).
function computedOpCount(graph) { return graph.ops.filter((op) => op.op !== 'tensor').length; }

module.exports = { values, matrix, branchesGraph, chainsGraph, writeGraph, computedOpCount };
