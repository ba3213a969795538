// Draws one graph's DAG for the status page as SVG, laid out by dagre (npm `@dagrejs/dagre`,
// copied into web/vendor/ by the build): layered top to bottom with few crossings, ops as boxes
// labelled with their op and coloured by status. The drawing keeps its natural size inside a
// scrolling view, so a graph of thousands of ops stays readable; "Fit" scales it to the view.
// Laying out is the costly part (about a second for a thousand densely crossing ops): a redraw of the
// same ops (only statuses changed) recolours the drawing instead of laying it out again.
'use strict';

(function (root) {
  const SVG = 'http://www.w3.org/2000/svg';
  const COLORS = { pending: '#b8bfcc', running: '#3b82f6', computed: '#2f9e44', failed: '#d63939', cancelled: '#6b7280' };
  const NODE_W = 84, NODE_H = 22, MARGIN = 16;
  const HUB_FAN_OUT = 12;  // inputs that feed more ops than this (shared weights) get faint edges

  function el(name, attrs, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }

  function note(container, text) {
    const p = document.createElement('p');
    p.className = 'muted';
    p.textContent = text;
    container.appendChild(p);
  }

  // Positions of ops and edge routes: {width, height, nodes: Map id -> {x, y}, edges: [{from, to,
  // points}]}. Edges out of a hub (an input of more than HUB_FAN_OUT ops, such as shared weights)
  // are left out of the layout, which they would slow down by orders of magnitude (minutes for
  // 3,000 ops); they are drawn straight, faintly.
  function layout(ops, fanOut) {
    const g = new root.dagre.graphlib.Graph();
    g.setGraph({ rankdir: 'TB', nodesep: 8, ranksep: 28, edgesep: 4, marginx: MARGIN, marginy: MARGIN,
      ranker: 'tight-tree' });  // much faster than network-simplex on big graphs, nearly as compact
    g.setDefaultEdgeLabel(() => ({}));
    const ids = new Set(ops.map((op) => op.id));
    for (const op of ops) g.setNode(op.id, { width: NODE_W, height: NODE_H });
    const hubEdges = [];
    for (const op of ops) {
      for (const input of op.inputs || []) {
        if (!ids.has(input)) continue;
        if (fanOut.get(input) > HUB_FAN_OUT) hubEdges.push({ from: input, to: op.id });
        else g.setEdge(input, op.id);
      }
    }
    root.dagre.layout(g);
    const nodes = new Map(g.nodes().map((id) => [id, g.node(id)]));
    const edges = g.edges().map((e) => ({ from: e.v, to: e.w, points: g.edge(e).points || [] }));
    for (const e of hubEdges) {
      const a = nodes.get(e.from), b = nodes.get(e.to);
      edges.push({ from: e.from, to: e.to, points: [{ x: a.x, y: a.y + NODE_H / 2 }, { x: b.x, y: b.y - NODE_H / 2 }] });
    }
    const size = g.graph();
    return { width: Math.ceil(size.width), height: Math.ceil(size.height), nodes, edges };
  }

  // Renders graph {ops: [{id, op, inputs, status, error}]} into container (replacing its
  // content). onPick(op) is called when an op is clicked.
  function renderDag(container, graph, onPick) {
    const ops = graph.ops || [];
    const shape = `${graph.id}|${ops.length}|${ops.length ? ops[ops.length - 1].id : ''}`;
    const drawn = container.corvidDag;
    if (drawn && drawn.shape === shape && container.querySelector('svg')) return recolour(container, ops, onPick);
    container.textContent = '';
    if (!ops.length) return note(container, 'This graph has no ops.');
    if (!root.dagre) return note(container, 'The DAG view needs the dagre library: run scripts/install-deps.sh and build again.');
    const fanOut = new Map();
    for (const op of ops) for (const input of op.inputs || []) fanOut.set(input, (fanOut.get(input) || 0) + 1);
    const placed = layout(ops, fanOut);
    const { width, height } = placed;
    const svg = el('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img',
      'aria-label': `DAG of ${ops.length} ops` }, container);
    const fit = document.createElement('button');
    fit.type = 'button';
    fit.className = 'dag-fit';
    fit.textContent = 'Fit';
    fit.title = 'scale the drawing to the view (click again for full size)';
    fit.addEventListener('click', () => {
      const fitted = svg.getAttribute('width') !== String(width);
      const scale = Math.min(1, (container.clientWidth - 4) / width);
      svg.setAttribute('width', fitted ? width : Math.floor(width * scale));
      svg.setAttribute('height', fitted ? height : Math.floor(height * scale));
    });
    if (width > container.clientWidth) {
      container.insertBefore(fit, svg);
      container.scrollLeft = (width - container.clientWidth) / 2;  // wide layers: start at the middle
    }

    const edges = el('g', {}, svg);
    const many = ops.length > 150;
    for (const edge of placed.edges) {
      if (!edge.points.length) continue;
      const d = edge.points.map((p, i) => `${i ? 'L' : 'M'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
      el('path', { class: 'edge', d, 'stroke-opacity': fanOut.get(edge.from) > HUB_FAN_OUT ? 0.12 : many ? 0.45 : 0.9 }, edges);
    }
    const nodes = el('g', {}, svg);
    let picked = null;
    const maxChars = Math.floor((NODE_W - 8) / 6.6);
    container.corvidDag = { shape, onPick };
    for (const op of ops) {
      const at = placed.nodes.get(op.id);
      const g = el('g', { class: 'node', 'data-status': op.status, 'data-id': op.id }, nodes);
      el('rect', { x: at.x - NODE_W / 2, y: at.y - NODE_H / 2, width: NODE_W, height: NODE_H, rx: 6,
        fill: COLORS[op.status] || COLORS.pending }, g);
      const text = el('text', { x: at.x, y: at.y + 4, 'text-anchor': 'middle' }, g);
      text.textContent = op.op.length > maxChars ? op.op.slice(0, maxChars - 1) + '\u2026' : op.op;
      const title = el('title', {}, g);
      title.textContent = `${op.id} · ${op.op} · ${op.status}${op.error ? ' — ' + op.error : ''}`;
      g.corvidOp = op;
      g.addEventListener('click', () => {
        if (picked) picked.classList.remove('picked');
        picked = g;
        g.classList.add('picked');
        if (container.corvidDag.onPick) container.corvidDag.onPick(g.corvidOp);
      });
    }
  }

  // The same ops drawn already: new statuses, colours and tooltips only.
  function recolour(container, ops, onPick) {
    container.corvidDag.onPick = onPick;
    const byId = new Map(ops.map((op) => [op.id, op]));
    for (const g of container.querySelectorAll('.node')) {
      const op = byId.get(g.dataset.id);
      if (!op) continue;
      g.corvidOp = op;
      if (g.dataset.status === op.status) continue;
      g.dataset.status = op.status;
      g.querySelector('rect').setAttribute('fill', COLORS[op.status] || COLORS.pending);
      g.querySelector('title').textContent = `${op.id} · ${op.op} · ${op.status}${op.error ? ' — ' + op.error : ''}`;
    }
  }

  root.CorvidDag = { renderDag };
})(typeof self !== 'undefined' ? self : this);
