// The status page: polls GET /api/status about once a second and renders the fleet as aggregates
// (counts by state, a speed histogram, the fastest and slowest), one page of workers (searched,
// ordered) and of graphs (newest first), throughput and queue-depth charts, and recent events;
// draws the selected graph's DAG from GET /api/graphs/<id> (refetched when that graph's counts
// change). Formats in docs/protocol.md.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);
  const POLL_MS = 1000;
  const WORKERS_PER_PAGE = 50;
  const GRAPHS_PER_PAGE = 20;
  // The page of workers and graphs asked for (the query of /api/status).
  const view = { workersOffset: 0, workersOrder: 'id', workersSearch: '', graphsOffset: 0 };
  const STATUSES = ['pending', 'running', 'computed', 'failed', 'cancelled'];

  let selectedGraph = null;      // id of the graph drawn in the DAG view
  let drawnSignature = '';       // what the DAG view shows: id + counts, to refetch only on change
  let lastStatus = null;
  let lastOk = 0;
  let failuresInARow = 0;

  const esc = (s) => String(s === undefined || s === null ? '' : s).replace(/[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
  const fmt = (n) => (Number.isFinite(n) ? n.toLocaleString('en-US') : '–');
  const fixed = (n, digits) => (Number.isFinite(n) ? n.toFixed(digits) : '–');

  // Times from the server: epoch seconds or milliseconds; returns epoch seconds.
  function seconds(t) {
    if (typeof t === 'string') return Date.parse(t) / 1000;
    return t > 1e11 ? t / 1000 : t;
  }

  function isEpoch(s) { return s > 1e9; }

  function clock(t) {
    const s = seconds(t);
    return isEpoch(s) ? new Date(s * 1000).toTimeString().slice(0, 8) : `${fixed(s, 1)} s`;
  }

  function duration(s) {
    if (!Number.isFinite(s)) return '–';
    if (s < 1) return `${Math.round(s * 1000)} ms`;
    if (s < 60) return `${s.toFixed(1)} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
    return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  }

  function since(t) {
    const s = seconds(t);
    if (!isEpoch(s)) return esc(t);
    const ago = Math.max(0, Date.now() / 1000 - s);
    return `${clock(s)} <span class="muted">(${duration(ago)} ago)</span>`;
  }

  // ---- summary ----
  function renderSummary(st) {
    const fleet = st.fleet || { workers: 0, by_state: {} };
    const states = fleet.by_state || {};
    $('kpi-workers').textContent = fmt(fleet.workers);
    $('kpi-workers-sub').textContent = fleet.workers
      ? `${fmt(states.busy || 0)} busy · ${fmt(states.idle || 0)} idle` : 'none connected';
    const tp = st.throughput || {};
    $('kpi-ops').textContent = fixed(tp.ops_per_s, tp.ops_per_s < 10 ? 1 : 0);
    $('kpi-ops-sub').textContent = Number.isFinite(tp.groups_per_s) ? `${fixed(tp.groups_per_s, 1)} groups/s` : '\u00a0';
    $('kpi-queue').textContent = fmt(st.queue_depth);
    const page = st.graphs_page || { total: 0, by_status: {} };
    const running = (page.by_status || {}).running || 0;
    $('kpi-graphs').textContent = fmt(page.total);
    $('kpi-graphs-sub').textContent = page.total ? `${fmt(running)} in progress · ${fmt(page.total - running)} finished` : 'none submitted';
  }

  // ---- fleet ----
  const speed = (g) => (g >= 10 ? fixed(g, 0) : fixed(g, g >= 1 ? 1 : 2));
  function renderFleet(st) {
    const fleet = st.fleet || { workers: 0, by_state: {}, speed_histogram: [], fastest: [], slowest: [] };
    $('fleet-aside').textContent = fleet.workers
      ? `${fmt(fleet.workers)} workers · ${speed(fleet.total_gflops)} GFLOPS in all · ${fmt(fleet.groups_in_flight)} groups in flight` : '';
    $('fleet-states').innerHTML = Object.entries(fleet.by_state || {}).map(([state, n]) =>
      `<span class="badge" data-status="${esc(state)}">${esc(state)} ${fmt(n)}</span>`).join('');
    const bins = fleet.speed_histogram || [];
    const most = Math.max(1, ...bins.map((b) => b.workers));
    $('fleet-histogram').innerHTML = bins.map((b) =>
      `<div class="bin" title="${speed(b.from_gflops)}–${speed(b.to_gflops)} GFLOPS: ${fmt(b.workers)} workers">` +
      `<b>${b.workers ? fmt(b.workers) : ''}</b><i style="height:${(100 * b.workers / most).toFixed(1)}%"></i></div>`).join('') ||
      '<p class="muted">No benchmarked worker yet.</p>';
    const axis = $('fleet-histogram').nextElementSibling;
    if (axis && axis.classList.contains('histogram-axis')) axis.remove();
    if (bins.length) {
      $('fleet-histogram').insertAdjacentHTML('afterend', `<div class="histogram-axis">${bins.map((b) =>
        `<span>${speed(b.from_gflops)}</span>`).join('')}</div>`);
    }
    const line = (w) => `<li title="${esc(w.user_agent)}"><span class="mono">${esc(w.id)}</span> ${esc(w.name)} · ` +
      `${speed(w.measured_gflops || w.score_gflops)} GFLOPS · ${fmt(w.groups_done)} groups</li>`;
    $('fleet-fastest').innerHTML = (fleet.fastest || []).map(line).join('');
    $('fleet-slowest').innerHTML = (fleet.slowest || []).map(line).join('');
  }

  function statusUrl() {
    const q = new URLSearchParams({
      workers_offset: view.workersOffset, workers_limit: WORKERS_PER_PAGE, workers_order: view.workersOrder,
      graphs_offset: view.graphsOffset, graphs_limit: GRAPHS_PER_PAGE,
    });
    if (view.workersSearch) q.set('workers_search', view.workersSearch);
    return `/api/status?${q}`;
  }

  // "1–50 of 10,000" and the buttons' states.
  function renderPager(prefix, offset, shown, total) {
    $(`${prefix}-range`).textContent = total ? `${fmt(shown ? offset + 1 : 0)}–${fmt(offset + shown)} of ${fmt(total)}` : '';
    $(`${prefix}-prev`).disabled = offset <= 0;
    $(`${prefix}-next`).disabled = offset + shown >= total;
  }

  // ---- charts ----
  function renderCharts(st) {
    const history = (st.history || []).map((h) => ({ t: seconds(h.t), ops: h.ops_per_s, queue: h.queue_depth }));
    const now = history.length ? history[history.length - 1].t : Date.now() / 1000;
    const span = history.length ? now - history[0].t : 0;
    const windowS = span > 300 ? 600 : span > 120 ? 300 : 120;
    CorvidCharts.drawSeries($('throughput-chart'), history.map((h) => ({ t: h.t, v: h.ops })),
      { color: '#3b5bdb', fill: 'rgba(59, 91, 219, .13)', windowS, now });
    CorvidCharts.drawSeries($('queue-chart'), history.map((h) => ({ t: h.t, v: h.queue })),
      { color: '#e8890c', fill: 'rgba(232, 137, 12, .14)', windowS, now, integer: true });
    const label = `last ${windowS / 60} min`;
    const lastPoint = history[history.length - 1];
    $('throughput-aside').textContent = lastPoint ? `${fixed(lastPoint.ops, 1)} ops/s now · ${label}` : label;
    $('queue-aside').textContent = lastPoint ? `${fmt(lastPoint.queue)} ops now · ${label}` : label;
  }

  // Shows a table, or in its place the note saying why it is empty.
  function showTable(id, hasRows) {
    $(id).parentElement.hidden = !hasRows;
    $(`${id}-empty`).hidden = hasRows;
  }

  // ---- workers ----
  function renderWorkers(st) {
    const workers = st.workers || [];
    const page = st.workers_page || { offset: 0, matching: workers.length };
    const total = (st.fleet || {}).workers || 0;
    $('workers-aside').textContent = total ? (view.workersSearch
      ? `${fmt(page.matching)} of ${fmt(total)} match “${view.workersSearch}”` : `${fmt(total)} connected`) : '';
    renderPager('workers', page.offset, workers.length, page.matching);
    const body = $('workers').tBodies[0];
    showTable('workers', workers.length > 0);
    if (!workers.length) return;
    body.innerHTML = workers.map((w) => {
      const bench = w.benchmark || {};
      const benchTitle = bench.matmul_gflops !== undefined
        ? `matmul ${fixed(bench.matmul_gflops, 2)} GFLOPS · elementwise ${fixed(bench.elementwise_gbs, 2)} GB/s · reduce ${fixed(bench.reduce_gbs, 2)} GB/s`
        : '';
      const ua = w.user_agent && w.user_agent !== w.name ? `<span class="ua" title="${esc(w.user_agent)}">${esc(w.user_agent)}</span>` : '';
      const trust = typeof w.trust === 'number' ? `<span class="ua">trust ${esc(fixed(w.trust, 2))}</span>` : '';
      return `<tr data-worker="${esc(w.id)}">
        <td class="mono">${esc(w.id)}</td>
        <td class="name" title="${esc(w.name)}">${esc(w.name || '–')}${ua}${trust}</td>
        <td class="mono opt" title="${esc(w.device || '')}">${w.device ? `${esc(w.device.slice(0, 8))} · slot ${esc(w.slot ?? '–')}` : '–'}</td>
        <td><span class="badge" data-status="${esc(w.quarantined ? 'quarantined' : w.state)}" title="${esc(w.evidence ? w.evidence.detail : '')}">${esc(w.quarantined ? 'quarantined' : w.state)}</span></td>
        <td class="r opt" title="${esc(benchTitle)}">${w.score_gflops ? fixed(w.score_gflops, 1) + ' GFLOPS' : '–'}</td>
        <td class="r opt">${w.measured_gflops ? fixed(w.measured_gflops, 1) + ' GFLOPS' : '–'}</td>
        <td class="r opt">${fmt(w.in_flight)}</td>
        <td class="r opt">${fmt(w.groups_done)}</td>
        <td class="r ops-done">${fmt(w.ops_done)}</td>
        <td class="r opt">${fmt(w.failures)}</td>
        <td class="opt">${since(w.connected_since)}</td></tr>`;
    }).join('');
  }

  // ---- graphs ----
  function progressBar(g) {
    const total = g.total || 0;
    const counts = g.counts || {};
    const parts = ['computed', 'failed', 'cancelled', 'running'].map((s) => {
      const pct = total ? (100 * (counts[s] || 0)) / total : 0;
      return pct > 0 ? `<span class="${s}" style="width:${pct.toFixed(2)}%"></span>` : '';
    }).join('');
    const done = (counts.computed || 0) + (counts.failed || 0) + (counts.cancelled || 0);
    const pct = total ? Math.floor((100 * done) / total) : 0;
    return `<div class="bar" role="progressbar" aria-valuenow="${pct}" aria-valuemin="0" aria-valuemax="100">${parts}</div>` +
      `<div class="bar-label">${fmt(done)} / ${fmt(total)} ops · ${pct}%</div>`;
  }

  function renderGraphs(st) {
    const graphs = st.graphs || [];  // newest first
    const page = st.graphs_page || { offset: 0, total: graphs.length };
    renderPager('graphs', page.offset, graphs.length, page.total);
    const body = $('graphs').tBodies[0];
    showTable('graphs', graphs.length > 0);
    if (!graphs.length) return;
    if (selectedGraph === null || !graphs.some((g) => String(g.id) === String(selectedGraph))) {
      const active = graphs.find((g) => g.status === 'running' || g.status === 'pending');
      selectedGraph = (active || graphs[0]).id;
    }
    body.innerHTML = graphs.map((g) => {
      const c = g.counts || {};
      const selected = String(g.id) === String(selectedGraph) ? ' selected' : '';
      let row = `<tr class="graph-row${selected}" data-graph="${esc(g.id)}">
        <td class="mono">${esc(g.id)}</td><td class="name" title="${esc(g.name)}">${esc(g.name || '–')}</td>
        <td class="opt">${esc(g.owner || '–')}</td>
        <td><span class="badge graph-status" data-status="${esc(g.status)}">${esc(g.status)}</span></td>
        <td>${progressBar(g)}</td>
        ${STATUSES.map((s) => `<td class="r opt">${fmt(c[s] || 0)}</td>`).join('')}
        <td class="r opt">${duration(g.elapsed_s)}</td></tr>`;
      const failed = g.failed || [];
      if (failed.length) {
        const shown = failed.slice(0, 5).map((f) =>
          `<li><code>${esc(f.id)}</code><code>${esc(f.op)}</code>${esc(f.error)}</li>`).join('');
        const more = failed.length > 5 ? `<li class="muted">… and ${failed.length - 5} more failed ops</li>` : '';
        row += `<tr class="failures" data-graph="${esc(g.id)}"><td></td><td colspan="10"><ul>${shown}${more}</ul></td></tr>`;
      }
      return row;
    }).join('');
    const current = graphs.find((g) => String(g.id) === String(selectedGraph));
    const signature = `${current.id}|${current.status}|${JSON.stringify(current.counts)}|${current.total}`;
    if (signature !== drawnSignature) loadDag(current, signature);
  }

  // ---- DAG view ----
  let dagRequest = 0;
  async function loadDag(graph, signature) {
    const request = ++dagRequest;
    drawnSignature = signature;
    try {
      const response = await fetch(`/api/graphs/${encodeURIComponent(graph.id)}`, { cache: 'no-store' });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const data = await response.json();
      if (request !== dagRequest) return;
      $('dag-title').textContent = `${data.name || ''} (#${data.id}, ${fmt((data.ops || []).length)} ops)`;
      CorvidDag.renderDag($('dag'), data, (op) => {
        $('dag-detail').innerHTML = `<b>${esc(op.id)}</b> ${esc(op.op)} · ${esc(op.status)}` +
          ((op.inputs || []).length ? ` · inputs ${op.inputs.map(esc).join(', ')}` : '') +
          (op.error ? ` · <span style="color:var(--bad)">${esc(op.error)}</span>` : '');
      });
      $('dag').dataset.graph = String(data.id);
    } catch (e) {
      if (request !== dagRequest) return;
      drawnSignature = '';  // try again on the next poll
      $('dag-detail').textContent = `Could not load graph ${graph.id}: ${e.message}`;
    }
  }

  $('graphs').tBodies[0].addEventListener('click', (event) => {
    const row = event.target.closest('tr[data-graph]');
    if (!row || String(row.dataset.graph) === String(selectedGraph)) return;
    selectedGraph = row.dataset.graph;
    drawnSignature = '';
    $('dag-detail').innerHTML = '&nbsp;';
    if (lastStatus) renderGraphs(lastStatus);
  });

  // ---- events ----
  function renderEvents(st) {
    const events = (st.events || []).slice(-100).reverse();
    $('events-aside').textContent = events.length ? `${events.length} most recent` : '';
    const list = $('events');
    if (!events.length) {
      list.innerHTML = '<li><span class="empty">Nothing has happened yet.</span></li>';
      return;
    }
    list.innerHTML = events.map((e) =>
      `<li data-kind="${esc(e.kind)}"><time>${clock(e.t)}</time><span class="kind">${esc(e.kind)}</span>` +
      `<span class="msg">${esc(e.message)}</span></li>`).join('');
  }

  // ---- polling ----
  function setLive(tone, label, detail) {
    const pill = $('live');
    pill.dataset.tone = tone;
    pill.textContent = label;
    $('live-detail').textContent = detail;
  }

  async function poll() {
    try {
      const response = await fetch(statusUrl(), { cache: 'no-store' });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const st = await response.json();
      lastStatus = st;
      lastOk = Date.now();
      failuresInARow = 0;
      renderSummary(st);
      renderFleet(st);
      renderCharts(st);
      renderWorkers(st);
      renderGraphs(st);
      renderEvents(st);
      setLive('ok', 'Live', `updated ${new Date().toTimeString().slice(0, 8)} · every ${POLL_MS / 1000} s`);
    } catch (e) {
      failuresInARow += 1;
      const last = lastOk ? `last update ${new Date(lastOk).toTimeString().slice(0, 8)}` : 'no data yet';
      setLive('bad', 'Server unreachable', `${last} · retrying (${e.message})`);
    } finally {
      clearTimeout(pollTimer);
      pollTimer = setTimeout(poll, failuresInARow > 3 ? 3000 : POLL_MS);
    }
  }

  // Paging and search ask the server again at once.
  let pollTimer = null;
  function refresh() {
    clearTimeout(pollTimer);
    poll();
  }
  $('workers-prev').addEventListener('click', () => { view.workersOffset = Math.max(0, view.workersOffset - WORKERS_PER_PAGE); refresh(); });
  $('workers-next').addEventListener('click', () => { view.workersOffset += WORKERS_PER_PAGE; refresh(); });
  $('graphs-prev').addEventListener('click', () => { view.graphsOffset = Math.max(0, view.graphsOffset - GRAPHS_PER_PAGE); refresh(); });
  $('graphs-next').addEventListener('click', () => { view.graphsOffset += GRAPHS_PER_PAGE; refresh(); });
  $('worker-order').addEventListener('change', (e) => { view.workersOrder = e.target.value; view.workersOffset = 0; refresh(); });
  let searchTimer = null;
  $('worker-search').addEventListener('input', (e) => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => { view.workersSearch = e.target.value.trim(); view.workersOffset = 0; refresh(); }, 250);
  });

  window.addEventListener('resize', () => {
    if (lastStatus) renderCharts(lastStatus);
    drawnSignature = '';
    if (lastStatus) renderGraphs(lastStatus);
  });
  poll();
})();
