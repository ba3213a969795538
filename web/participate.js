// The Participate page: starts the Web Worker (participate-worker.js) on a click and shows what
// it reports. Nothing heavy runs here, so the page stays responsive while the tab computes.
// sessionStorage remembers this tab's worker id and whether it was participating, so a reload
// resumes as the same worker.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);
  const STORE_ID = 'corvid.workerId';
  const STORE_ON = 'corvid.participating';
  const RATE_WINDOW_S = 120;

  const ui = {
    participate: $('participate'), stop: $('stop'), state: $('state'), stateDetail: $('state-detail'),
    score: $('score'), scoreDetail: $('score-detail'),
    groupsDone: $('groups-done'), groupsDetail: $('groups-detail'),
    opsDone: $('ops-done'), opsDetail: $('ops-detail'),
    computeTime: $('compute-time'), computeUnit: $('compute-unit'), computeDetail: $('compute-detail'),
    currentTitle: $('current-title'), currentDetail: $('current-detail'), currentOps: $('current-ops'),
    rate: $('rate'), activity: $('activity'),
    workerId: $('worker-id'), server: $('server'), benchMatmul: $('bench-matmul'),
    benchElementwise: $('bench-elementwise'), benchReduce: $('bench-reduce'), kept: $('kept'),
    data: $('data'), errorCount: $('error-count'), log: $('log'), logAside: $('log-aside'),
  };

  // How each worker state looks: label and pill tone.
  const STATES = {
    idle: ['Not participating', 'idle'],
    loading: ['Loading kernel', 'busy'],
    benchmarking: ['Benchmarking', 'busy'],
    connecting: ['Connecting', 'busy'],
    ready: ['Connected · waiting for work', 'ok'],
    working: ['Connected · computing', 'ok'],
    reconnecting: ['Server unreachable', 'warn'],
    stopping: ['Stopping', 'busy'],
    stopped: ['Stopped', 'idle'],
    failed: ['Failed', 'bad'],
  };

  let worker = null;
  let workerId = null;
  let state = 'idle';
  let retryAt = 0;
  let readyTimer = 0;
  let lastGroup = null;
  const samples = [];  // {t (s), ops} once a second, for the rate and the activity chart
  let opsTotal = 0;
  let logCount = 0;

  // A short "Chromium 120 on Linux" style name for this tab (the server shows it to operators).
  function tabName() {
    const ua = navigator.userAgent;
    const browser = (/(Edg|OPR|Firefox|Chrome|Chromium|Version)\/(\d+)/.exec(ua) || []);
    const names = { Edg: 'Edge', OPR: 'Opera', Version: 'Safari' };
    const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Windows/.test(ua) ? 'Windows'
      : /Mac OS X/.test(ua) ? 'macOS' : /Linux/.test(ua) ? 'Linux' : 'unknown OS';
    const name = browser[1] ? `${names[browser[1]] || browser[1]} ${browser[2]}` : 'Browser';
    return `${/Headless/.test(ua) ? 'Headless ' : ''}${name} on ${os}`;
  }

  function formatCount(n) { return n.toLocaleString('en-US'); }

  function formatDuration(ms) {
    if (ms < 1000) return [ms.toFixed(ms < 10 ? 1 : 0), 'ms'];
    if (ms < 60000) return [(ms / 1000).toFixed(ms < 10000 ? 2 : 1), 's'];
    return [(ms / 60000).toFixed(1), 'min'];
  }

  function formatBytes(n) {
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
    if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MB`;
    return `${(n / 1024 ** 3).toFixed(2)} GB`;
  }

  function clock(date = new Date()) { return date.toTimeString().slice(0, 8); }

  function addLog(level, message) {
    if (logCount === 0) ui.log.textContent = '';
    logCount += 1;
    const li = document.createElement('li');
    li.className = level;
    const time = document.createElement('time');
    time.textContent = clock();
    const span = document.createElement('span');
    span.textContent = message;
    li.append(time, span);
    ui.log.prepend(li);
    while (ui.log.children.length > 100) ui.log.lastChild.remove();
    ui.logAside.textContent = `${formatCount(logCount)} event${logCount === 1 ? '' : 's'}`;
  }

  function setState(next, detail) {
    state = next;
    const [label, tone] = STATES[next] || [next, 'idle'];
    ui.state.textContent = label;
    ui.state.dataset.tone = tone;
    ui.state.dataset.state = next;
    ui.stateDetail.textContent = detail ||
      ((next === 'ready' || next === 'working') && workerId !== null ? `worker ${workerId} on ${location.host}` : '');
    const active = !['idle', 'stopped', 'failed'].includes(next);
    ui.participate.disabled = active;
    ui.stop.disabled = !active || next === 'stopping';
    ui.participate.textContent = active ? 'Participating' : next === 'stopped' ? 'Participate again' : 'Participate';
    if (!active) {
      ui.currentTitle.textContent = { failed: 'Could not start', stopped: 'Stopped' }[next] || 'Idle';
      ui.currentDetail.textContent = next === 'failed' ? detail
        : next === 'stopped' ? 'This tab is not computing. Press Participate to lend it again.' : 'Press Participate to start.';
      ui.currentOps.textContent = '';
    } else if (next === 'ready' && lastGroup) {
      ui.currentTitle.textContent = 'Waiting for work';
      ui.currentDetail.textContent = `Last: group ${lastGroup.groupId}, ${lastGroup.ops.length} op(s)` +
        (lastGroup.computeMs !== undefined ? ` in ${lastGroup.computeMs.toFixed(1)} ms` : '');
    } else if (next === 'ready' || next === 'connecting' || next === 'loading' || next === 'benchmarking' ||
               next === 'reconnecting') {
      ui.currentTitle.textContent = STATES[next][0];
      ui.currentDetail.textContent = detail || '';
      if (next !== 'ready') ui.currentOps.textContent = '';
    }
  }

  // Summarises a group's ops as chips: "matmul ×3", "add", ...
  function showOps(ops) {
    const counts = new Map();
    for (const op of ops) counts.set(op, (counts.get(op) || 0) + 1);
    ui.currentOps.textContent = '';
    for (const [op, n] of counts) {
      const chip = document.createElement('span');
      chip.className = 'chip';
      chip.textContent = n > 1 ? `${op} ×${n}` : op;
      ui.currentOps.append(chip);
    }
  }

  function showTotals(totals, message) {
    opsTotal = totals.ops;
    ui.groupsDone.textContent = formatCount(totals.groups);
    ui.opsDone.textContent = formatCount(totals.ops);
    const [value, unit] = formatDuration(totals.computeMs);
    ui.computeTime.textContent = value;
    ui.computeUnit.textContent = unit;
    ui.groupsDetail.textContent = totals.groups
      ? `${(totals.ops / totals.groups).toFixed(1)} ops per group` : '\u00a0';
    ui.computeDetail.textContent = totals.groups
      ? `${(totals.computeMs / totals.groups).toFixed(1)} ms per group` : '\u00a0';
    const extra = [];
    if (totals.cancelled) extra.push(`${totals.cancelled} cancelled`);
    if (totals.released) extra.push(`${totals.released} handed back`);
    if (message.queued) extra.push(`${message.queued} queued`);
    ui.opsDetail.textContent = extra.join(' · ') || '\u00a0';
    ui.errorCount.textContent = formatCount(totals.errors);
    ui.data.textContent = `${formatBytes(totals.bytesIn)} / ${formatBytes(totals.bytesOut)}`;
    if (message.kept !== undefined) ui.kept.textContent = formatCount(message.kept);
  }

  function onMessage(event) {
    const m = event.data;
    switch (m.type) {
      case 'state':
        retryAt = m.retryAt || 0;
        clearTimeout(readyTimer);
        // Between back-to-back groups the worker is "ready" for a moment: show that only if it lasts.
        if (m.state === 'ready' && state === 'working') readyTimer = setTimeout(() => setState('ready', m.detail), 600);
        else setState(m.state, m.state === 'reconnecting' ? reconnectText() : m.detail);
        break;
      case 'benchmark': {
        const s = m.score;
        ui.score.textContent = s.matmul_gflops.toFixed(1);
        ui.scoreDetail.textContent = `matmul, measured in ${Math.round(s.duration_ms)} ms`;
        ui.benchMatmul.textContent = `${s.matmul_gflops.toFixed(2)} GFLOPS`;
        ui.benchElementwise.textContent = `${s.elementwise_gbs.toFixed(2)} GB/s`;
        ui.benchReduce.textContent = `${s.reduce_gbs.toFixed(2)} GB/s`;
        break;
      }
      case 'welcome':
        workerId = m.workerId;
        ui.workerId.textContent = String(m.workerId);
        ui.server.textContent = m.server;
        sessionStorage.setItem(STORE_ID, String(m.workerId));
        break;
      case 'group':
        if (m.phase === 'start') {
          ui.currentTitle.textContent = `Group ${m.groupId}`;
          ui.currentDetail.textContent = `${m.ops.length} op${m.ops.length === 1 ? '' : 's'}` +
            (m.queued ? ` · ${m.queued} more queued` : '');
          showOps(m.ops);
        } else {
          lastGroup = m;
          if (m.ok) {
            ui.currentDetail.textContent = `${m.ops.length} op${m.ops.length === 1 ? '' : 's'} · ` +
              `computed in ${m.computeMs.toFixed(1)} ms` + (m.queued ? ` · ${m.queued} more queued` : '');
          } else {
            ui.currentDetail.textContent = `failed: ${m.error}`;
          }
        }
        break;
      case 'totals':
        showTotals(m.totals, m);
        break;
      case 'log':
        addLog(m.level, m.message);
        break;
    }
  }

  function reconnectText() {
    const left = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
    return left > 0 ? `Lost the server · retrying in ${left} s` : 'Lost the server · retrying now';
  }

  function start() {
    if (!worker) {
      worker = new Worker('participate-worker.js');
      worker.onmessage = onMessage;
      worker.onerror = (e) => {
        setState('failed', e.message || 'the background worker failed to start');
        addLog('error', e.message || 'the background worker failed to start');
        e.preventDefault();
      };
    }
    sessionStorage.setItem(STORE_ON, '1');
    const stored = sessionStorage.getItem(STORE_ID);
    const resumeId = stored !== null && /^\d+$/.test(stored) ? Number(stored) : null;
    setState('loading', 'Starting the background worker…');
    // ?slowdown=f makes this tab emulate a device f times slower (for benchmarks, like corvid-worker --slowdown).
    const slowdown = Math.max(1, Number(new URLSearchParams(location.search).get('slowdown')) || 1);
    worker.postMessage({ cmd: 'start', name: tabName(), resumeId, slowdown });
  }

  function stop() {
    sessionStorage.setItem(STORE_ON, '0');
    if (worker) worker.postMessage({ cmd: 'stop' });
  }

  // ---- the activity chart: ops per second over the last two minutes ----
  function sample() {
    const t = Date.now() / 1000;
    samples.push({ t, ops: opsTotal });
    while (samples.length && samples[0].t < t - RATE_WINDOW_S - 2) samples.shift();
    if (state === 'reconnecting') ui.stateDetail.textContent = ui.currentDetail.textContent = reconnectText();
    const recent = samples.filter((s) => s.t >= t - 5.5);
    if (recent.length >= 2 && !['idle', 'stopped', 'failed'].includes(state)) {
      const rate = (recent[recent.length - 1].ops - recent[0].ops) / (recent[recent.length - 1].t - recent[0].t);
      ui.rate.textContent = `${rate.toFixed(rate < 10 ? 1 : 0)} ops/s`;
    } else {
      ui.rate.textContent = '';
    }
    drawActivity(t);
  }

  function drawActivity(now) {
    const canvas = ui.activity;
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (!w || !h) return;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const rates = [];
    for (let i = 1; i < samples.length; i++) {
      const dt = samples[i].t - samples[i - 1].t;
      if (dt > 0) rates.push({ t: samples[i].t, v: (samples[i].ops - samples[i - 1].ops) / dt });
    }
    const top = 14, bottom = h - 4;
    const max = Math.max(1, ...rates.map((r) => r.v));
    const x = (t) => w - ((now - t) / RATE_WINDOW_S) * w;
    const y = (v) => bottom - (v / max) * (bottom - top);
    ctx.strokeStyle = '#e3e6ec';
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(0, bottom + .5); ctx.lineTo(w, bottom + .5);
    ctx.moveTo(0, top + .5); ctx.lineTo(w, top + .5);
    ctx.stroke();
    ctx.fillStyle = '#697386';
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'bottom';
    ctx.textAlign = 'left';
    ctx.fillText(`${max < 10 ? max.toFixed(1) : Math.round(max)} ops/s`, 2, top - 1);
    ctx.textAlign = 'right';
    ctx.fillText('last 2 min', w - 2, top - 1);
    if (rates.length < 2 || !rates.some((r) => r.v > 0)) return;
    ctx.beginPath();
    rates.forEach((r, i) => (i ? ctx.lineTo(x(r.t), y(r.v)) : ctx.moveTo(x(r.t), y(r.v))));
    ctx.strokeStyle = '#3b5bdb';
    ctx.lineWidth = 1.6;
    ctx.lineJoin = 'round';
    ctx.stroke();
    ctx.lineTo(x(rates[rates.length - 1].t), bottom);
    ctx.lineTo(x(rates[0].t), bottom);
    ctx.closePath();
    ctx.fillStyle = 'rgba(59, 91, 219, .12)';
    ctx.fill();
  }

  ui.participate.addEventListener('click', start);
  ui.stop.addEventListener('click', stop);
  setInterval(sample, 1000);
  setState('idle');
  sample();
  if (sessionStorage.getItem(STORE_ON) === '1') {
    addLog('info', 'Resuming after a reload');
    start();
  }
})();
