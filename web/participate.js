// The Participate page: runs the volunteer's compute slots (one Web Worker each, see
// participate-worker.js) under the volunteer's controls and shows what they report. Nothing
// heavy runs here, so the page stays responsive while every slot computes.
//
// Remembered in localStorage (this device, across visits): the controls (cores, CPU limit, only
// while visible, pause on battery), a random device id (every slot's hello names it, so the
// server shows the slots as one device) and the device's running contribution. Remembered in
// sessionStorage (this tab, across reloads): each slot's worker id (a reload resumes as the same
// workers), whether the volunteer is participating and whether they paused.
//
// A slot runs while the volunteer participates, has not paused, and no automatic pause applies
// (the tab is hidden with "only while visible", or the device is on battery with "pause on
// battery"). Pausing stops the slots, which hands their in-flight work back to the server; the
// kernels stay loaded, so resuming needs no new benchmark.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);
  const STORE_SETTINGS = 'corvid.settings';
  const STORE_DEVICE = 'corvid.device';
  const STORE_CONTRIBUTION = 'corvid.contribution';
  const STORE_ON = 'corvid.participating';
  const STORE_PAUSED = 'corvid.paused';
  const storeWorkerId = (slot) => `corvid.workerId.${slot}`;
  const RATE_WINDOW_S = 120;
  const LIMITS = [25, 50, 75, 100];
  const CORES = Math.max(1, Math.min(navigator.hardwareConcurrency || 1, 64));
  // Default: every core but one, so the browser, the page and the volunteer's other work keep a
  // core of their own, and at most 4 (each slot holds its own kernel and up to 256 MB of kept
  // tensors).
  const DEFAULT_CORES = Math.max(1, Math.min(CORES - 1, 4));
  const KEPT_MB_PER_SLOT = 256;

  const ui = {
    participate: $('participate'), pause: $('pause'), stop: $('stop'), state: $('state'), stateDetail: $('state-detail'),
    score: $('score'), scoreDetail: $('score-detail'),
    groupsDone: $('groups-done'), groupsDetail: $('groups-detail'),
    opsDone: $('ops-done'), opsDetail: $('ops-detail'),
    computeTime: $('compute-time'), computeUnit: $('compute-unit'), computeDetail: $('compute-detail'),
    currentTitle: $('current-title'), currentDetail: $('current-detail'), currentOps: $('current-ops'),
    rate: $('rate'), activity: $('activity'),
    workerId: $('worker-id'), server: $('server'), benchMatmul: $('bench-matmul'),
    benchElementwise: $('bench-elementwise'), benchReduce: $('bench-reduce'), kept: $('kept'),
    data: $('data'), errorCount: $('error-count'), log: $('log'), logAside: $('log-aside'),
    cores: $('cores'), coresValue: $('cores-value'), coresHint: $('cores-hint'), limit: $('limit'),
    visibleOnly: $('visible-only'), batteryPause: $('battery-pause'), batteryHint: $('battery-hint'),
    useCpu: $('use-cpu'), useMemory: $('use-memory'), useData: $('use-data'), kernelKind: $('kernel-kind'),
    contribOps: $('contrib-ops'), contribGroups: $('contrib-groups'), contribTime: $('contrib-time'),
    contribSince: $('contribution-since'), slots: document.querySelector('#slots tbody'),
  };

  // How each state looks: label and pill tone.
  const STATES = {
    idle: ['Not participating', 'idle'],
    loading: ['Loading kernel', 'busy'],
    benchmarking: ['Benchmarking', 'busy'],
    connecting: ['Connecting', 'busy'],
    ready: ['Connected · waiting for work', 'ok'],
    working: ['Connected · computing', 'ok'],
    reconnecting: ['Server unreachable', 'warn'],
    stopping: ['Stopping', 'busy'],
    paused: ['Paused', 'idle'],
    stopped: ['Stopped', 'idle'],
    failed: ['Failed', 'bad'],
  };
  // When slots are in different states the tab shows the first of these that any slot is in.
  const STATE_ORDER = ['working', 'ready', 'reconnecting', 'connecting', 'benchmarking', 'loading', 'stopping', 'failed', 'stopped', 'idle'];

  // ---- what this device remembers ----
  function readJson(key, fallback) {
    try {
      const value = JSON.parse(localStorage.getItem(key));
      return value && typeof value === 'object' ? value : fallback;
    } catch (e) {
      return fallback;
    }
  }

  function loadSettings() {
    const s = readJson(STORE_SETTINGS, {});
    return {
      cores: Number.isInteger(s.cores) && s.cores >= 1 && s.cores <= CORES ? s.cores : DEFAULT_CORES,
      limit: LIMITS.includes(s.limit) ? s.limit : 100,
      visibleOnly: s.visibleOnly === true,
      batteryPause: s.batteryPause === true,
    };
  }

  // This device's id: random, made once, kept in localStorage (the server groups slots by it).
  function deviceId() {
    let id = localStorage.getItem(STORE_DEVICE);
    if (!id || !/^[0-9a-f]{16}$/.test(id)) {
      id = [...crypto.getRandomValues(new Uint8Array(8))].map((b) => b.toString(16).padStart(2, '0')).join('');
      localStorage.setItem(STORE_DEVICE, id);
    }
    return id;
  }

  const settings = loadSettings();
  const device = deviceId();
  // The device's contribution as last read from localStorage, and what this tab added since. Tabs
  // of one browser share it: each adds its own deltas to what is stored (never overwrites).
  const CONTRIBUTION_FIELDS = ['groups', 'ops', 'computeMs', 'bytesIn', 'bytesOut', 'visits'];
  let contribution = storedContribution();
  const contributionDelta = { groups: 0, ops: 0, computeMs: 0, bytesIn: 0, bytesOut: 0, visits: 1 };

  function storedContribution() {
    const stored = readJson(STORE_CONTRIBUTION, {});
    const c = { since: Number(stored.since) > 0 ? Number(stored.since) : Date.now() };
    for (const k of CONTRIBUTION_FIELDS) c[k] = Number(stored[k]) > 0 ? Number(stored[k]) : 0;
    return c;
  }

  // Adds this tab's deltas to the stored contribution.
  function saveContribution() {
    if (!CONTRIBUTION_FIELDS.some((k) => contributionDelta[k])) return;
    contribution = storedContribution();
    for (const k of CONTRIBUTION_FIELDS) {
      contribution[k] += contributionDelta[k];
      contributionDelta[k] = 0;
    }
    localStorage.setItem(STORE_CONTRIBUTION, JSON.stringify(contribution));
    renderUsage();
  }

  function saveSettings() { localStorage.setItem(STORE_SETTINGS, JSON.stringify(settings)); }

  // ---- the slots ----
  // One per Web Worker: {index, worker, state, detail, workerId, score, relaxed, totals, counted,
  // heapBytes, kept, queued, retryAt, group}. `counted` is the part of `totals` already added to
  // the device's contribution.
  const slots = [];
  let participating = false;
  let paused = false;
  let hidden = document.visibilityState === 'hidden';
  let onBattery = false;
  let state = 'idle';
  let readyTimer = 0;
  let lastGroup = null;
  const samples = [];  // {t (s), ops} once a second, for the rate and the activity chart
  let logCount = 0;
  const VIEW_EVERY_MS = 200;
  let viewTimer = 0;
  let lastViewMs = -VIEW_EVERY_MS;
  let current = null;   // the group the page shows: {title, detail, ops}
  let shownOps = null;  // the ops its chips show

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


  function addLog(level, message, slot = null) {
    if (logCount === 0) ui.log.textContent = '';
    logCount += 1;
    const li = document.createElement('li');
    li.className = level;
    const time = document.createElement('time');
    time.textContent = clock();
    const where = document.createElement('em');
    where.className = 'slot';
    where.textContent = slot === null ? '' : `core ${slot + 1}`;
    const span = document.createElement('span');
    span.textContent = message;
    li.append(time, where, span);
    ui.log.prepend(li);
    while (ui.log.children.length > 100) ui.log.lastChild.remove();
    ui.logAside.textContent = `${formatCount(logCount)} event${logCount === 1 ? '' : 's'}`;
  }

  // Why the slots are not running now although the volunteer participates, or ''.
  function pauseReason() {
    if (paused) return 'Paused by you';
    if (settings.visibleOnly && hidden) return 'Paused while this tab is hidden';
    if (settings.batteryPause && onBattery) return 'Paused: this device runs on battery';
    return '';
  }

  // Starts or stops slots so that what runs matches the controls: slot i runs while i < cores
  // and nothing pauses the tab. Slots beyond the cores are stopped and then ended.
  function reconcile() {
    const run = participating && !pauseReason();
    for (let i = 0; i < Math.max(settings.cores, slots.length); i++) {
      if (i < settings.cores && run) startSlot(i);
      else if (slots[i]) stopSlot(slots[i]);
    }
    render();
  }

  function startSlot(index) {
    let slot = slots[index];
    if (!slot || slot.ended) {
      slot = { index, worker: null, state: 'idle', detail: '', workerId: null, score: null, relaxed: false, totals: null,
        counted: { groups: 0, ops: 0, computeMs: 0, bytesIn: 0, bytesOut: 0 }, heapBytes: 0, kept: 0, queued: 0,
        retryAt: 0, group: null, wanted: false, ended: false };
      slots[index] = slot;
    }
    if (slot.wanted) return;
    if (!slot.worker) {
      slot.worker = new Worker('participate-worker.js');
      slot.worker.onmessage = (event) => onMessage(slot, event.data);
      slot.worker.onerror = (e) => {
        slot.state = 'failed';
        slot.detail = e.message || 'the background worker failed to start';
        addLog('error', slot.detail, index);
        e.preventDefault();
        render();
      };
    }
    slot.wanted = true;
    slot.state = 'loading';
    const stored = sessionStorage.getItem(storeWorkerId(index));
    const resumeId = stored !== null && /^\d+$/.test(stored) ? Number(stored) : null;
    const query = new URLSearchParams(location.search);
    // ?slowdown=f makes this tab emulate a device f times slower (for benchmarks, like corvid-worker
    // --slowdown); ?kernel=plain|relaxed picks a kernel build (web/kernel.js).
    const slowdown = Math.max(1, Number(query.get('slowdown')) || 1);
    slot.worker.postMessage({ cmd: 'start', name: tabName(), resumeId, slowdown, device, slot: index,
      dutyCycle: settings.limit / 100, kernel: query.get('kernel') || 'auto' });
  }

  function stopSlot(slot) {
    if (slot.ended) return;
    if (!slot.wanted) {
      if (slot.index >= settings.cores && ['idle', 'stopped', 'failed'].includes(slot.state)) endSlot(slot);
      return;
    }
    slot.wanted = false;
    if (slot.worker) slot.worker.postMessage({ cmd: 'stop' });
  }

  // Ends a stopped slot beyond the volunteer's cores (its worker and kernel go away).
  // Slots stop in any order; the array drops them from its end, so that slots[i] stays slot i.
  function endSlot(slot) {
    if (slot.worker) slot.worker.terminate();
    slot.worker = null;
    slot.ended = true;
    slot.heapBytes = 0;
    sessionStorage.removeItem(storeWorkerId(slot.index));
    while (slots.length && slots[slots.length - 1].ended) slots.pop();
  }

  // The tab's state: paused, or what its slots are doing.
  function tabState() {
    if (participating && pauseReason()) {
      const stopping = slots.some((s) => s.state === 'stopping');
      return stopping ? 'stopping' : 'paused';
    }
    if (!slots.length) return participating ? 'loading' : state === 'stopped' ? 'stopped' : 'idle';
    const states = new Set(slots.filter((s) => s.index < settings.cores || s.wanted).map((s) => s.state));
    const first = STATE_ORDER.find((st) => states.has(st)) || 'idle';
    if (!participating && ['idle', 'stopped'].includes(first)) return state === 'idle' ? 'idle' : 'stopped';
    return first;
  }

  // The servers the slots are connected to (slots fail over on their own), "host:port, ...".
  function slotServers() {
    return [...new Set(slots.filter((s) => s.server).map((s) => s.server))].join(', ') || location.host;
  }

  // "2 cores on host:port": the slots that have a connection, and where.
  function connectedText() {
    const n = slots.filter((s) => s.workerId !== null && s.wanted).length;
    return `${n} core${n === 1 ? '' : 's'} on ${slotServers()}`;
  }

  // ---- rendering ----
  function render() {
    setState(tabState());
    renderSlots();
    renderUsage();
    ui.pause.disabled = !participating;
    ui.pause.textContent = paused ? 'Resume' : 'Pause';
    const ids = slots.filter((s) => !s.ended && s.workerId !== null).map((s) => s.workerId);
    ui.workerId.textContent = ids.length ? ids.join(', ') : '–';
  }

  function setState(next) {
    const previous = state;
    state = next;
    const [label, tone] = STATES[next] || [next, 'idle'];
    const reconnecting = slots.find((s) => s.state === 'reconnecting');
    const detail = next === 'paused' || next === 'stopping' && pauseReason() ? pauseReason()
      : next === 'reconnecting' && reconnecting ? reconnectText(reconnecting)
        : next === 'failed' ? (slots.find((s) => s.state === 'failed') || {}).detail
          : (next === 'ready' || next === 'working') ? connectedText() : (slots.find((s) => s.state === next) || {}).detail;
    ui.state.textContent = label;
    ui.state.dataset.tone = tone;
    ui.state.dataset.state = next;
    ui.stateDetail.textContent = detail || '';
    const active = participating || !['idle', 'stopped', 'failed'].includes(next);
    ui.participate.disabled = active;
    ui.stop.disabled = !active || next === 'stopping' && !participating;
    ui.participate.textContent = active ? 'Participating' : next === 'stopped' ? 'Participate again' : 'Participate';
    if (previous === next && !['reconnecting', 'ready', 'connecting'].includes(next)) return;
    if (!active || next === 'paused') {
      ui.currentTitle.textContent = { failed: 'Could not start', stopped: 'Stopped', paused: 'Paused' }[next] || 'Idle';
      ui.currentDetail.textContent = next === 'failed' ? detail
        : next === 'stopped' ? 'This tab is not computing. Press Participate to lend it again.'
          : next === 'paused' ? `${detail}. In-flight work went back to the server.` : 'Press Participate to start.';
      ui.currentOps.textContent = '';
      shownOps = null;
    } else if (next === 'ready' && lastGroup) {
      ui.currentTitle.textContent = 'Waiting for work';
      ui.currentDetail.textContent = `Last: group ${lastGroup.groupId}, ${lastGroup.ops.length} op(s)` +
        (lastGroup.computeMs !== undefined ? ` in ${lastGroup.computeMs.toFixed(1)} ms` : '');
    } else if (next !== 'working') {
      ui.currentTitle.textContent = STATES[next][0];
      ui.currentDetail.textContent = detail || '';
      ui.currentOps.textContent = '';
      shownOps = null;
    }
  }

  function renderSlots() {
    const rows = slots.filter((s) => !s.ended).map((s) => {
      const tr = document.createElement('tr');
      tr.dataset.state = s.state;
      const [label, tone] = STATES[s.state] || [s.state, 'idle'];
      const busy = s.totals ? formatDuration(s.totals.computeMs).join(' ') : '–';
      const cells = [`${s.index + 1}`, null, s.workerId === null ? '–' : String(s.workerId),
        formatCount(s.totals ? s.totals.groups : 0), busy];
      cells.forEach((text, i) => {
        const td = document.createElement('td');
        if (i === 1) {
          const pill = document.createElement('span');
          pill.className = 'pill';
          pill.dataset.tone = tone;
          const pausedSlot = participating && ['stopped', 'stopping'].includes(s.state) && s.index < settings.cores;
          pill.textContent = s.group ? 'computing' : pausedSlot ? 'Paused' : label.replace('Connected · ', '');
          if (s.group) pill.title = `group ${s.group}`;
          td.append(pill);
        } else {
          td.textContent = text;
        }
        if (i >= 3) td.className = 'num';
        tr.append(td);
      });
      return tr;
    });
    ui.slots.replaceChildren(...rows);
  }

  function renderUsage() {
    const running = slots.filter((s) => s.wanted).length;
    ui.useCpu.textContent = running
      ? `${running} core${running === 1 ? '' : 's'} of ${CORES}, each busy at most ${settings.limit}% of the time`
      : participating ? 'none while paused' : 'nothing until you press Participate';
    const heap = slots.reduce((sum, s) => sum + s.heapBytes, 0);
    ui.useMemory.textContent = slots.length
      ? `${formatBytes(heap)} of WebAssembly memory now (up to ${KEPT_MB_PER_SLOT} MB of kept tensors per core)`
      : `a kernel per core, up to ${KEPT_MB_PER_SLOT} MB of kept tensors each`;
    const tin = slots.reduce((sum, s) => sum + (s.totals ? s.totals.bytesIn : 0), 0);
    const tout = slots.reduce((sum, s) => sum + (s.totals ? s.totals.bytesOut : 0), 0);
    ui.useData.textContent = `${formatBytes(tin)} in, ${formatBytes(tout)} out this visit ` +
      `(${formatBytes(contribution.bytesIn)} in, ${formatBytes(contribution.bytesOut)} out in all)`;
    ui.coresValue.textContent = `${settings.cores} of ${CORES}`;
    ui.contribOps.textContent = formatCount(contribution.ops);
    ui.contribGroups.textContent = formatCount(contribution.groups);
    ui.contribTime.textContent = formatDuration(contribution.computeMs).join(' ');
    ui.contribSince.textContent = `since ${new Date(contribution.since).toLocaleDateString()} · ` +
      `${contribution.visits} visit${contribution.visits === 1 ? '' : 's'}`;
  }

  // Summed totals of every slot of this visit.
  function tabTotals() {
    const sum = { groups: 0, ops: 0, computeMs: 0, errors: 0, cancelled: 0, released: 0, bytesIn: 0, bytesOut: 0 };
    for (const s of slots)
      if (s.totals) for (const k of Object.keys(sum)) sum[k] += Number(s.totals[k]) || 0;
    return sum;
  }

  // Adds what the slot did since it last reported to the device's contribution.
  function countContribution(slot, totals) {
    for (const k of ['groups', 'ops', 'computeMs', 'bytesIn', 'bytesOut']) {
      const delta = (Number(totals[k]) || 0) - slot.counted[k];
      if (delta > 0) contributionDelta[k] += delta;
      slot.counted[k] = Number(totals[k]) || 0;
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

  function showTotals() {
    const totals = tabTotals();
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
    const queued = slots.reduce((sum, s) => sum + s.queued, 0);
    if (queued) extra.push(`${queued} queued`);
    ui.opsDetail.textContent = extra.join(' · ') || '\u00a0';
    ui.errorCount.textContent = formatCount(totals.errors);
    ui.data.textContent = `${formatBytes(totals.bytesIn)} / ${formatBytes(totals.bytesOut)}`;
    ui.kept.textContent = formatCount(slots.reduce((sum, s) => sum + s.kept, 0));
  }

  function onMessage(slot, m) {
    switch (m.type) {
      case 'state':
        slot.retryAt = m.retryAt || 0;
        slot.state = m.state;
        slot.detail = m.detail || '';
        if (m.state !== 'working') slot.group = null;
        if (['stopped', 'failed'].includes(m.state)) slot.wanted = false;
        if (m.state === 'stopped' && slot.index >= settings.cores) endSlot(slot);
        clearTimeout(readyTimer);
        // Between back-to-back groups a slot is "ready" for a moment: show that only if it lasts.
        if (m.state === 'ready' && state === 'working') readyTimer = setTimeout(render, 600);
        else render();
        break;
      case 'benchmark': {
        slot.score = m.score;
        slot.relaxed = m.relaxedSimd === true;
        const scored = slots.filter((s) => s.score);
        const sum = (f) => scored.reduce((total, s) => total + s.score[f], 0);
        ui.score.textContent = sum('matmul_gflops').toFixed(1);
        ui.scoreDetail.textContent = `matmul on ${scored.length} core${scored.length === 1 ? '' : 's'}, ` +
          `measured in ${Math.round(m.score.duration_ms)} ms`;
        ui.benchMatmul.textContent = `${(sum('matmul_gflops') / scored.length).toFixed(2)} GFLOPS per core`;
        ui.benchElementwise.textContent = `${(sum('elementwise_gbs') / scored.length).toFixed(2)} GB/s per core`;
        ui.benchReduce.textContent = `${(sum('reduce_gbs') / scored.length).toFixed(2)} GB/s per core`;
        ui.kernelKind.textContent = slot.relaxed ? 'WebAssembly relaxed SIMD (FMA)' : 'WebAssembly SIMD';
        break;
      }
      case 'welcome':
        slot.workerId = m.workerId;
        slot.server = m.server;  // slots fail over on their own: show every server they are on
        ui.server.textContent = slotServers();
        sessionStorage.setItem(storeWorkerId(slot.index), String(m.workerId));
        render();
        break;
      case 'group':
        if (m.phase === 'start') {
          slot.group = m.groupId;
          current = { title: `Group ${m.groupId}`, ops: m.ops,
            detail: `${m.ops.length} op${m.ops.length === 1 ? '' : 's'} on core ${slot.index + 1}` +
              (m.queued ? ` · ${m.queued} more queued` : '') };
        } else {
          slot.group = null;
          lastGroup = m;
          current = { ...(current || { title: `Group ${m.groupId}`, ops: m.ops }),
            detail: m.ok ? `${m.ops.length} op${m.ops.length === 1 ? '' : 's'} · computed in ${m.computeMs.toFixed(1)} ms ` +
              `on core ${slot.index + 1}` + (m.queued ? ` · ${m.queued} more queued` : '') : `failed: ${m.error}` };
        }
        scheduleView();
        break;
      case 'totals':
        slot.totals = m.totals;
        slot.queued = m.queued || 0;
        if (m.kept !== undefined) slot.kept = m.kept;
        if (m.heapBytes !== undefined) slot.heapBytes = m.heapBytes;
        countContribution(slot, m.totals);
        scheduleView();
        break;
      case 'log':
        addLog(m.level, m.message, slot.index);
        break;
    }
  }

  // Groups come and go many times a second on every slot: the page shows the current group, the
  // counters and the slot table at most every VIEW_EVERY_MS (the first at once), so that the page
  // itself costs little CPU (drawing them on every group took about a third of a core from the
  // slots at 180 groups a second).
  function scheduleView() {
    if (viewTimer) return;
    viewTimer = setTimeout(flushView, Math.max(0, lastViewMs + VIEW_EVERY_MS - performance.now()));
  }

  function flushView() {
    viewTimer = 0;
    lastViewMs = performance.now();
    showTotals();
    if (current && state === 'working') {
      ui.currentTitle.textContent = current.title;
      ui.currentDetail.textContent = current.detail;
      if (current.ops !== shownOps) showOps(current.ops);
      shownOps = current.ops;
    }
    renderSlots();
  }

  function reconnectText(slot) {
    const left = Math.max(0, Math.ceil((slot.retryAt - Date.now()) / 1000));
    return left > 0 ? `Lost the server · retrying in ${left} s` : 'Lost the server · retrying now';
  }

  function start() {
    participating = true;
    paused = false;
    sessionStorage.setItem(STORE_ON, '1');
    sessionStorage.setItem(STORE_PAUSED, '0');
    reconcile();
  }

  function stop() {
    participating = false;
    paused = false;
    state = 'stopped';
    sessionStorage.setItem(STORE_ON, '0');
    sessionStorage.setItem(STORE_PAUSED, '0');
    reconcile();
  }

  function togglePause() {
    if (!participating) return;
    paused = !paused;
    sessionStorage.setItem(STORE_PAUSED, paused ? '1' : '0');
    addLog('info', paused ? 'Paused by you: handing back in-flight work' : 'Resumed');
    reconcile();
  }

  // ---- the controls ----
  function showControls() {
    ui.cores.max = String(CORES);
    ui.cores.value = String(settings.cores);
    ui.coresHint.textContent = `This device has ${CORES} core${CORES === 1 ? '' : 's'}; ` +
      `${DEFAULT_CORES} (all but one, at most 4) is the default, so the browser keeps a core for itself.`;
    for (const input of ui.limit.querySelectorAll('input')) input.checked = Number(input.value) === settings.limit;
    ui.visibleOnly.checked = settings.visibleOnly;
    ui.batteryPause.checked = settings.batteryPause;
  }

  ui.cores.addEventListener('input', () => {
    settings.cores = Math.max(1, Math.min(CORES, Number(ui.cores.value) || 1));
    saveSettings();
    reconcile();
  });
  ui.limit.addEventListener('change', (event) => {
    settings.limit = LIMITS.includes(Number(event.target.value)) ? Number(event.target.value) : 100;
    saveSettings();
    for (const s of slots) if (s.worker) s.worker.postMessage({ cmd: 'limit', dutyCycle: settings.limit / 100 });
    render();
  });
  ui.visibleOnly.addEventListener('change', () => {
    settings.visibleOnly = ui.visibleOnly.checked;
    saveSettings();
    reconcile();
  });
  ui.batteryPause.addEventListener('change', () => {
    settings.batteryPause = ui.batteryPause.checked;
    saveSettings();
    reconcile();
  });
  document.addEventListener('visibilitychange', () => {
    hidden = document.visibilityState === 'hidden';
    if (settings.visibleOnly && participating) addLog('info', hidden ? 'The tab is hidden: pausing' : 'The tab is visible again: resuming');
    reconcile();
  });

  // "Pause on battery" where the browser tells whether the device charges (Chromium does;
  // Firefox and Safari do not).
  function watchBattery() {
    if (typeof navigator.getBattery !== 'function') {
      ui.batteryPause.disabled = true;
      ui.batteryHint.textContent = 'This browser does not tell pages whether the device runs on battery.';
      return;
    }
    navigator.getBattery().then((battery) => {
      const update = () => {
        const was = onBattery;
        onBattery = !battery.charging;
        ui.batteryHint.textContent = onBattery ? 'Running on battery now.' : 'Plugged in now.';
        if (was !== onBattery && settings.batteryPause && participating)
          addLog('info', onBattery ? 'On battery: pausing' : 'Plugged in: resuming');
        reconcile();
      };
      battery.addEventListener('chargingchange', update);
      update();
    }).catch(() => {
      ui.batteryPause.disabled = true;
      ui.batteryHint.textContent = 'This browser would not tell whether the device runs on battery.';
    });
  }

  // ---- the activity chart: ops per second over the last two minutes ----
  function sample() {
    const t = Date.now() / 1000;
    samples.push({ t, ops: tabTotals().ops });
    while (samples.length && samples[0].t < t - RATE_WINDOW_S - 2) samples.shift();
    if (state === 'reconnecting') {
      const slot = slots.find((s) => s.state === 'reconnecting');
      if (slot) ui.stateDetail.textContent = ui.currentDetail.textContent = reconnectText(slot);
    }
    const recent = samples.filter((s) => s.t >= t - 5.5);
    if (recent.length >= 2 && !['idle', 'stopped', 'failed', 'paused'].includes(state)) {
      const rate = (recent[recent.length - 1].ops - recent[0].ops) / (recent[recent.length - 1].t - recent[0].t);
      ui.rate.textContent = `${rate.toFixed(rate < 10 ? 1 : 0)} ops/s`;
    } else {
      ui.rate.textContent = '';
    }
    saveContribution();
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
  ui.pause.addEventListener('click', togglePause);
  ui.stop.addEventListener('click', stop);
  window.addEventListener('pagehide', saveContribution);
  showControls();
  watchBattery();
  setInterval(sample, 1000);
  render();
  sample();
  if (sessionStorage.getItem(STORE_ON) === '1') {
    addLog('info', 'Resuming after a reload');
    paused = sessionStorage.getItem(STORE_PAUSED) === '1';
    participating = true;
    reconcile();
  }
})();
