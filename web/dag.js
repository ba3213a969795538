// Draws one graph's DAG for the status page as SVG: ops in layers by depth (longest path from a
// source), ordered within a layer by the mean position of their inputs to keep edges short,
// coloured by status. Wide layers wrap into several rows; when labels do not fit, ops become
// dots (their id, op and status in a tooltip), so a few hundred ops stay readable.
'use strict';

(function (root) {
  const SVG = 'http://www.w3.org/2000/svg';
  const COLORS = { pending: '#b8bfcc', running: '#3b82f6', computed: '#2f9e44', failed: '#d63939', cancelled: '#6b7280' };

  // Assigns each op a depth: 0 for ops without inputs in the graph, else 1 + the deepest input.
  // Returns layers: arrays of ops. Inputs naming unknown ids are ignored; a cycle (which the
  // server never stores) cannot loop forever, its ops just land in layer 0.
  function layersOf(ops) {
    const byId = new Map(ops.map((op) => [op.id, op]));
    const depth = new Map();
    const visiting = new Set();
    function depthOf(op) {
      if (depth.has(op.id)) return depth.get(op.id);
      if (visiting.has(op.id)) return 0;
      visiting.add(op.id);
      let d = 0;
      for (const input of op.inputs || []) {
        const parent = byId.get(input);
        if (parent) d = Math.max(d, depthOf(parent) + 1);
      }
      visiting.delete(op.id);
      depth.set(op.id, d);
      return d;
    }
    // Iterative warm-up from the front keeps recursion shallow for long chains given in order.
    for (const op of ops) depthOf(op);
    const layers = [];
    for (const op of ops) (layers[depth.get(op.id)] = layers[depth.get(op.id)] || []).push(op);
    return layers.filter(Boolean);
  }

  // Reorders each layer by the mean position of its ops' inputs in the layers above (barycenter
  // heuristic, one downward sweep), which removes most crossings in typical graphs.
  function orderLayers(layers) {
    const position = new Map();
    layers[0].forEach((op, i) => position.set(op.id, i / Math.max(1, layers[0].length - 1)));
    for (let d = 1; d < layers.length; d++) {
      const keyed = layers[d].map((op, i) => {
        const parents = (op.inputs || []).filter((id) => position.has(id)).map((id) => position.get(id));
        return { op, key: parents.length ? parents.reduce((a, b) => a + b, 0) / parents.length : i / layers[d].length };
      });
      keyed.sort((a, b) => a.key - b.key);
      layers[d] = keyed.map((k) => k.op);
      layers[d].forEach((op, i) => position.set(op.id, i / Math.max(1, layers[d].length - 1)));
    }
    return layers;
  }

  function el(name, attrs, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }

  // Renders graph {ops: [{id, op, inputs, status, error}]} into container (replacing its
  // content), fitting the container's width. onPick(op) is called when an op is clicked.
  function renderDag(container, graph, onPick) {
    container.textContent = '';
    const ops = graph.ops || [];
    if (!ops.length) {
      const p = document.createElement('p');
      p.className = 'muted';
      p.textContent = 'This graph has no ops.';
      container.appendChild(p);
      return;
    }
    const layers = orderLayers(layersOf(ops));
    const width = Math.max(320, container.clientWidth - 2);
    const margin = 16;
    const usable = width - 2 * margin;
    const widest = Math.max(...layers.map((l) => l.length));
    // Labelled boxes when every layer fits in one row, else dots wrapped into rows.
    const labelled = usable / widest >= 52;
    const nodeW = labelled ? Math.min(120, Math.floor(usable / widest) - 10) : 12;
    const nodeH = labelled ? 24 : 12;
    const slotW = labelled ? nodeW + 10 : 18;
    const perRow = Math.max(1, Math.floor(usable / slotW));
    const rowGap = labelled ? 54 : 16;
    const layerGap = labelled ? 0 : 26;

    const place = new Map();  // op id -> {x, y} (centre)
    let y = margin + nodeH / 2;
    for (const layer of layers) {
      const rows = Math.ceil(layer.length / perRow);
      for (let r = 0; r < rows; r++) {
        const row = layer.slice(r * perRow, (r + 1) * perRow);
        const rowW = row.length * slotW;
        const x0 = margin + (usable - rowW) / 2 + slotW / 2;
        row.forEach((op, i) => place.set(op.id, { x: x0 + i * slotW, y }));
        y += nodeH + (r === rows - 1 ? rowGap : 6);
      }
      y += layerGap;
    }
    const height = Math.ceil(y - rowGap - layerGap + nodeH / 2 + margin);

    const svg = el('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img',
      'aria-label': `DAG of ${ops.length} ops in ${layers.length} layers` }, container);
    const edges = el('g', {}, svg);
    const nodes = el('g', {}, svg);
    const many = ops.length > 150;
    // Inputs that feed many ops (shared weights) would draw a wall of edges: draw theirs faintly.
    const fanOut = new Map();
    for (const op of ops) for (const input of op.inputs || []) fanOut.set(input, (fanOut.get(input) || 0) + 1);
    for (const op of ops) {
      const to = place.get(op.id);
      for (const input of op.inputs || []) {
        const from = place.get(input);
        if (!from) continue;
        const hub = fanOut.get(input) > 12;
        const y1 = from.y + nodeH / 2, y2 = to.y - nodeH / 2;
        const bend = Math.max(12, (y2 - y1) / 2);
        el('path', { class: 'edge', d: `M${from.x},${y1} C${from.x},${y1 + bend} ${to.x},${y2 - bend} ${to.x},${y2}`,
          'stroke-opacity': hub ? 0.12 : many ? 0.45 : 0.9 }, edges);
      }
    }
    let picked = null;
    for (const op of ops) {
      const at = place.get(op.id);
      const g = el('g', { class: 'node', 'data-status': op.status, 'data-id': op.id }, nodes);
      const fill = COLORS[op.status] || COLORS.pending;
      if (labelled) {
        el('rect', { x: at.x - nodeW / 2, y: at.y - nodeH / 2, width: nodeW, height: nodeH, rx: 6, fill }, g);
        const text = el('text', { x: at.x, y: at.y + 4, 'text-anchor': 'middle' }, g);
        const maxChars = Math.max(3, Math.floor((nodeW - 8) / 6.6));
        const label = op.op.length > maxChars ? op.op.slice(0, maxChars - 1) + '…' : op.op;
        text.textContent = label;
      } else {
        el('circle', { cx: at.x, cy: at.y, r: nodeH / 2, fill }, g);
      }
      const title = el('title', {}, g);
      title.textContent = `${op.id} · ${op.op} · ${op.status}${op.error ? ' — ' + op.error : ''}`;
      g.addEventListener('click', () => {
        if (picked) picked.classList.remove('picked');
        picked = g;
        g.classList.add('picked');
        if (onPick) onPick(op);
      });
    }
  }

  root.CorvidDag = { renderDag };
})(typeof self !== 'undefined' ? self : this);
