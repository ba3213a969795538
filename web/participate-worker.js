// One compute slot of the Participate page: a Web Worker with its own wasm kernel and its own
// WebSocket, so the page stays responsive and a tab computes on as many cores as it has slots.
// It loads the kernel, runs the device benchmark once, keeps a WebSocket to /ws/worker
// (hello → welcome → benchmark → assign/result…, see docs/protocol.md; the hello names the
// device and slot), computes the groups it is assigned one per task (so Stop and cancel messages
// get in between groups), and reconnects with backoff when the server goes away, without
// re-running the benchmark: to the next of the servers it knows (its own, and the `servers` a
// welcome names) when there are several, or to the one a `redirect` names. A CPU limit (duty cycle d < 1) makes the slot rest (1/d - 1) times
// its busy time before it starts the next group; busy is everything since work arrived or the
// last rest ended (receiving, copying, computing, encoding, sending), not only the kernel. The
// browser reads and writes the socket on this thread in tasks no script sees, so a busy stretch
// lasts until the reply has left the socket, and a group that arrives during a rest counts from
// the rest's start to its arrival: waiting on the network then counts as busy too (the slot
// stays under its limit, at the price of computing less on a slow link).
//
// Page → worker messages: {cmd: "start", name, resumeId, slowdown, device, slot, dutyCycle, kernel},
// {cmd: "limit", dutyCycle} and {cmd: "stop"}.
// Worker → page messages: {type: "state", state, detail, retryAt}, {type: "benchmark", score},
// {type: "welcome", workerId, server}, {type: "group", phase: "start"|"done", ...},
// {type: "totals", totals, queued, kept, heapBytes}, {type: "log", level, message}.
'use strict';

importScripts('wire.js');

const PROTOCOL_VERSION = 1;
const BACKOFF_FIRST_MS = 1000;
const BACKOFF_MAX_MS = 15000;
const SEND_POLL_MS = 2;    // how long whenSent looks again at once before it polls on a timer

let kernel = null;         // the loaded wasm kernel (kept across connections)
let score = null;          // the benchmark result (measured once per worker)
let preparing = null;      // the promise of prepare(), shared by every start
let socket = null;         // the current WebSocket, or null
let wanted = false;        // true between "start" and "stop"
let workerName = '';
let workerId = null;       // the id the server gave this tab (sent back as resume_id on reconnect)
let heartbeatTimer = 0;
let reconnectTimer = 0;
let backoffMs = BACKOFF_FIRST_MS;
let attempt = 0;
let lastHeardMs = 0;       // when the server last sent anything
let serverHeartbeats = false;
let heartbeatMs = 5000;
const queue = [];          // assigned groups not computed yet: {groupId, bytes, ops}
let pumpScheduled = false;
let delayed = null;        // with a slowdown: the computed group whose reply is being held back
let slowdown = 1;          // emulate a device this many times slower (?slowdown=f on the page)
let dutyCycle = 1;         // the volunteer's CPU limit: the busy fraction this slot stays under
let restUntilMs = 0;       // with a CPU limit: the slot rests until then before the next group
let busySinceMs = 0;       // when the slot's current busy stretch began (work arrived, or the last rest ended)
let busyDuringRestMs = 0;  // time spent on messages that arrived while the slot rested
let quietSinceMs = 0;      // during a rest: when the slot last had something to do (the rest began, or a group arrived)
let draining = false;      // a reply is still leaving the socket: the busy stretch goes on
let keptCount = 0;         // tensors the kernel keeps, as last read
let keptReadMs = -Infinity;
let device = '';           // the id the page keeps for this device (localStorage), sent in hello
let slot = null;           // this worker's slot on the device
let kernelVariant = 'auto'; // which kernel build (web/kernel.js): auto, plain or relaxed (?kernel= on the page)
// The servers this slot may work for ("ws://host:port"), its own first; welcomes and redirects add
// more (docs/protocol.md: at most 32 a welcome, 300 bytes an address; the slot keeps 64).
const servers = [`${self.location.protocol === 'https:' ? 'wss:' : 'ws:'}//${self.location.host}`];
const MAX_SERVERS = 64;
let currentServer = 0;     // index in servers of the one connected to (or tried next)
let redirectTo = null;     // a redirect's server: the next connection goes there

const totals = { groups: 0, ops: 0, computeMs: 0, restMs: 0, errors: 0, cancelled: 0, released: 0, bytesIn: 0, bytesOut: 0 };

function post(message) { self.postMessage(message); }
// Tells the page the slot's state; a state the page already has (a slot is 'working' on every
// group) is not posted again, so that the page does not redraw on every group.
let postedState = null;
function setState(state, detail = '', extra = {}) {
  const message = { type: 'state', state, detail, ...extra };
  const key = JSON.stringify(message);
  if (key === postedState) return;
  postedState = key;
  post(message);
}
function log(level, message) { post({ type: 'log', level, message }); }

self.onmessage = (event) => {
  const message = event.data || {};
  if (message.cmd === 'start') start(message).catch((e) => fail(e));
  else if (message.cmd === 'stop') stop();
  else if (message.cmd === 'limit') limit(message.dutyCycle);
};

// The duty cycle a page asks for, clamped to (0, 1].
function dutyOf(value) {
  const d = Number(value);
  return d > 0 && d < 1 ? d : 1;
}

// The benchmark as the server should see it: a slot slowed down or held under a CPU limit
// delivers that much less, and the scheduler sizes its work by these figures.
function reportedScore() {
  const factor = dutyCycle / slowdown;
  return { ...score, matmul_gflops: score.matmul_gflops * factor, elementwise_gbs: score.elementwise_gbs * factor,
    reduce_gbs: score.reduce_gbs * factor };
}

// A new CPU limit: applies from the next group on, and the server hears the slot's new speed.
function limit(value) {
  dutyCycle = dutyOf(value);
  if (score && socket && socket.readyState === WebSocket.OPEN) send({ type: 'benchmark', ...reportedScore() });
}

function fail(error) {
  wanted = false;
  const text = error && error.message ? error.message : String(error);
  log('error', text);
  setState('failed', text);
}

// Loads the kernel and measures the device (first start only), then connects.
async function start({ name, resumeId, slowdown: factor, device: deviceId, slot: slotIndex, dutyCycle: duty, kernel: variant }) {
  if (wanted) return;
  wanted = true;
  postedState = null;  // the page shows a restarted slot as loading: every state is news again
  slowdown = Number(factor) > 1 ? Number(factor) : 1;
  dutyCycle = dutyOf(duty);
  device = typeof deviceId === 'string' ? deviceId : '';
  slot = Number.isInteger(slotIndex) ? slotIndex : null;
  if (['plain', 'relaxed'].includes(variant)) kernelVariant = variant;
  workerName = name || 'browser tab';
  if (resumeId && !workerId) workerId = resumeId;
  preparing = preparing || prepare();
  try {
    await preparing;
  } catch (e) {
    preparing = null;  // a later Participate tries again
    throw e;
  }
  if (!wanted) setState('stopped', 'Stopped before connecting');
  else if (!socket) connect();
}

// Loads the kernel and runs the device benchmark; both happen once per Web Worker.
async function prepare() {
  setState('loading', 'Loading the WebAssembly kernel…');
  try {
    importScripts('kernel.js');
    kernel = await CorvidKernel.load({ variant: kernelVariant });
  } catch (e) {
    throw new Error(`Could not load the WebAssembly kernel (corvid_kernel.js): ${e.message}`);
  }
  log('info', `WebAssembly kernel loaded (${kernel.relaxedSimd ? 'relaxed SIMD, with FMA' : 'SIMD'})`);
  setState('benchmarking', 'Measuring this device…');
  // Let the state message reach the page before the benchmark occupies this thread.
  await new Promise((resolve) => setTimeout(resolve, 20));
  try {
    score = await measure();
  } catch (e) {
    throw new Error(`The device benchmark failed: ${e.message}`);
  }
  if (slowdown > 1) log('info', `Emulating a device ${slowdown}× slower (slowdown=${slowdown} in the page address)`);
  post({ type: 'benchmark', score, relaxedSimd: kernel.relaxedSimd });
  log('info', `Benchmark: ${score.matmul_gflops.toFixed(1)} GFLOPS matmul, ` +
      `${score.elementwise_gbs.toFixed(1)} GB/s elementwise, ${score.reduce_gbs.toFixed(1)} GB/s reductions`);
}

// The device benchmark, repeated until its figures settle. V8 first runs wasm with its baseline
// compiler and tiers hot functions up while they run, so the first runs measure several times
// too slow; each figure reported is the best of the runs.
async function measure() {
  const FIELDS = ['matmul_gflops', 'elementwise_gbs', 'reduce_gbs'];
  const settled = (a, b) => FIELDS.every((f) => a[f] > 0 && Math.abs(a[f] - b[f]) <= 0.2 * Math.max(a[f], b[f]));
  const runs = [];
  for (let i = 0; i < 6; i++) {
    runs.push(kernel.benchmark(300));
    if (runs.length >= 2 && settled(runs[runs.length - 1], runs[runs.length - 2])) break;
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  const best = (field) => Math.max(...runs.map((r) => (Number.isFinite(r[field]) ? r[field] : 0)));
  return { matmul_gflops: best('matmul_gflops'), elementwise_gbs: best('elementwise_gbs'), reduce_gbs: best('reduce_gbs'),
    duration_ms: runs.reduce((sum, r) => sum + r.duration_ms, 0) };
}

function serverUrl() { return `${servers[currentServer]}/ws/worker`; }

// The host:port of the current server, as the page shows it.
function serverHost() { return servers[currentServer].replace(/^wss?:\/\//, ''); }

// What is wrong with a server address from the network ('' if nothing): the rules of
// protocol::server_address_problem (docs/protocol.md, Limits).
function serverAddressProblem(url) {
  if (typeof url !== 'string') return 'is not a string';
  if (url.length > 300) return 'is longer than 300 bytes';
  const m = /^wss?:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?\/?$/.exec(url);
  if (!m) return 'must be ws://host:port or wss://host:port with no path';
  if (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 65535)) return 'has a port outside 1..65535';
  return '';
}

// Adds a server address (without a trailing '/'); returns its index, or null if the list is full.
function learnServer(url) {
  const address = url.replace(/\/$/, '');
  const known = servers.indexOf(address);
  if (known >= 0) return known;
  if (servers.length >= MAX_SERVERS) return null;
  servers.push(address);
  return servers.length - 1;
}

// Posts the counters to the page. How many tensors the kernel keeps is read at most once a second:
// listing them costs milliseconds once hundreds are kept, too much to pay after every group.
function postTotals() {
  const now = performance.now();
  if (now - keptReadMs >= 1000) {
    keptCount = kernel.cachedNames().length;
    keptReadMs = now;
  }
  post({ type: 'totals', totals, queued: queue.length, kept: keptCount, heapBytes: kernel.heapBytes() });
}

// Sends an encoded frame; false when there is no open connection.
function sendBytes(bytes) {
  if (!socket || socket.readyState !== WebSocket.OPEN) return false;
  totals.bytesOut += bytes.byteLength;
  socket.send(bytes);
  return true;
}

function send(header) { return sendBytes(CorvidWire.encodeFrame(header)); }

function connect() {
  clearTimeout(reconnectTimer);
  attempt += 1;
  setState('connecting', `Connecting to ${serverHost()}…`);
  const ws = new WebSocket(serverUrl());
  ws.binaryType = 'arraybuffer';
  socket = ws;
  ws.onopen = () => {
    if (ws !== socket) return;
    const hello = { type: 'hello', version: PROTOCOL_VERSION, name: workerName, user_agent: self.navigator.userAgent };
    if (workerId !== null) hello.resume_id = workerId;
    if (device) hello.device = device;
    if (slot !== null) hello.slot = slot;
    const cached = kernel.cachedNames();
    if (cached.length) hello.cached = cached;
    send(hello);
  };
  ws.onmessage = (event) => {
    if (ws !== socket) return;
    const t0 = performance.now();
    const resting = t0 < restUntilMs;
    const type = receive(new Uint8Array(event.data));
    const t1 = performance.now();
    // Counted in the next busy stretch. A group that arrives during a rest was received by this
    // thread (the browser reads the socket here, in tasks no script sees) since the slot was last
    // busy: all of that counts, not only this handler.
    if (resting && type === 'assign') {
      busyDuringRestMs += t1 - quietSinceMs;
      quietSinceMs = t1;
    } else if (t0 < busySinceMs) {
      busyDuringRestMs += t1 - t0;
    }
  };
  ws.onclose = (event) => { if (ws === socket) closed(event); };
}

function receive(bytes) {
  lastHeardMs = Date.now();
  totals.bytesIn += bytes.byteLength;
  let header;
  try {
    header = CorvidWire.decodeFrame(bytes).header;
  } catch (e) {
    log('error', `Undecodable frame from the server: ${e.message}`);
    return undefined;
  }
  switch (header.type) {
    case 'welcome': welcomed(header); break;
    case 'assign': assigned(header, bytes); break;
    case 'cancel': cancelled(header.group_id); break;
    case 'release': break;  // kept tensors the server released: the kernel's LRU cache lets them go in time
    case 'heartbeat': serverHeartbeats = true; break;
    case 'redirect': redirected(header); break;
    case 'error':
      totals.errors += 1;
      log('error', `Server: ${header.error}`);
      post({ type: 'totals', totals, queued: queue.length });
      break;
    default: log('warn', `Ignored a '${header.type}' message from the server`);
  }
  return header.type;
}

// A redirect (the server then closes): the next connection goes to its url, if it is valid.
function redirected(header) {
  const problem = serverAddressProblem(header.url);
  if (problem) {
    log('error', `Refused a redirect: its url ${problem}`);
    return;
  }
  redirectTo = learnServer(header.url);
  log('info', `Redirected to ${header.url}${header.reason ? ` (${header.reason})` : ''}`);
}

function welcomed(header) {
  const resumed = workerId !== null && header.worker_id === workerId;
  workerId = header.worker_id;
  heartbeatMs = Number(header.heartbeat_ms) > 0 ? Number(header.heartbeat_ms) : 5000;
  backoffMs = BACKOFF_FIRST_MS;
  attempt = 0;
  for (const url of Array.isArray(header.servers) ? header.servers.slice(0, 32) : []) {
    if (!serverAddressProblem(url)) learnServer(url);
  }
  post({ type: 'welcome', workerId, server: serverHost(), resumed });
  log('info', resumed ? `Reconnected as worker ${workerId}` : `Connected as worker ${workerId}`);
  send({ type: 'benchmark', ...reportedScore() });
  postTotals();
  clearInterval(heartbeatTimer);
  heartbeatTimer = setInterval(heartbeat, heartbeatMs);
  setState('ready', '');
}

// Sends our heartbeat; if the server has been sending heartbeats and went quiet for four
// periods, the connection is dead even though the socket has not noticed: drop it.
function heartbeat() {
  send({ type: 'heartbeat', t: Date.now() });
  if (serverHeartbeats && Date.now() - lastHeardMs > 4 * heartbeatMs && socket) {
    log('warn', 'The server stopped answering; reconnecting');
    socket.close(4000, 'heartbeat lost');
    closed({ code: 4000, reason: 'heartbeat lost' });
  }
}

function assigned(header, bytes) {
  const ops = Array.isArray(header.ops) ? header.ops.map((o) => o.op) : [];
  const now = performance.now();
  if (!queue.length && !delayed && !draining && now > restUntilMs && !pumpScheduled) busySinceMs = now;  // idle until now
  queue.push({ groupId: header.group_id, bytes, ops });
  schedulePump();
}

function cancelled(groupId) {
  const index = queue.findIndex((g) => g.groupId === groupId);
  if (index < 0) return;  // already computed (or never ours): nothing to do
  queue.splice(index, 1);
  totals.cancelled += 1;
  log('info', `Group ${groupId} was finished elsewhere; skipped`);
  post({ type: 'totals', totals, queued: queue.length });
}

function schedulePump() {
  if (pumpScheduled) return;
  pumpScheduled = true;
  const waitMs = restUntilMs - performance.now();
  if (waitMs > 0) setTimeout(pump, waitMs);
  else soon(pump);
}

// Runs fn in a task of its own as soon as the thread is free. setTimeout(fn, 0) would not do:
// a timer set from a timer, five deep, waits at least 4 ms (HTML's timer nesting rule), and the
// slot's groups chain through timers, so every group would wait 4 ms, most of a group's compute.
// A message to ourselves is not clamped.
const soonChannel = new MessageChannel();
const soonQueue = [];
soonChannel.port1.onmessage = () => { const fn = soonQueue.shift(); if (fn) fn(); };
function soon(fn) {
  soonQueue.push(fn);
  soonChannel.port2.postMessage(0);
}

// Computes one queued group and sends its reply; one group per task, so that "stop", "cancel"
// and heartbeats are handled between groups. With a slowdown f > 1 the reply is held back for
// (f - 1) × the compute time, so the tab looks f times slower to the scheduler.
function pump() {
  pumpScheduled = false;
  if (delayed || draining) return;  // the held-back reply or the one still leaving moves on when done
  if (performance.now() < restUntilMs) {  // scheduled before the rest was known (a group arrived meanwhile)
    schedulePump();
    return;
  }
  const group = queue.shift();
  if (!group) return;
  post({ type: 'group', phase: 'start', groupId: group.groupId, ops: group.ops, queued: queue.length });
  setState('working', '');
  const started = performance.now();
  const reply = kernel.execute(group.bytes);
  const wallMs = performance.now() - started;
  const frame = CorvidWire.decodeFrame(reply);  // a `result` or `error` (shared/protocol.hpp), read once here
  if (slowdown <= 1) {
    finish(group, reply, frame.header, wallMs);
    return;
  }
  delayed = { group, reply: slowed(frame), header: frame.header, wallMs: wallMs * slowdown };
  rest();  // the reply is held back, not computed: only what came before counts as busy
  setTimeout(() => {
    const d = delayed;
    delayed = null;
    if (d) finish(d.group, d.reply, d.header, d.wallMs, true);
  }, (slowdown - 1) * wallMs);
}

// Under a CPU limit d < 1: the slot has been busy since busySinceMs (plus what arrived during its
// last rest), so it rests (1/d - 1) times that long before its next group; its next busy stretch
// starts when the rest ends.
function rest() {
  const now = performance.now();
  if (dutyCycle >= 1) {  // no rest; a limit set later counts from here, not from the last idle spell
    busySinceMs = now;
    busyDuringRestMs = 0;
    return;
  }
  const restMs = (now - Math.max(busySinceMs, restUntilMs) + busyDuringRestMs) * (1 / dutyCycle - 1);
  busyDuringRestMs = 0;
  restUntilMs = now + restMs;
  busySinceMs = restUntilMs;
  quietSinceMs = now;
  totals.restMs += restMs;
}

// Calls back once the socket has handed the reply to the network (or closed). The browser sends
// a large frame on this thread, in many small tasks after send() returns, which no script sees:
// computing the next group at once would hold the reply back until that group is done too (the
// server then sees two replies at once and the slot idles meanwhile). Under a CPU limit that
// work is busy time, so the busy stretch goes on until the reply has left; script cannot tell it
// from waiting on a slow link or server, so both count as busy.
function whenSent(callback) {
  draining = true;
  const started = performance.now();
  const check = () => {
    if (socket && socket.readyState === WebSocket.OPEN && socket.bufferedAmount > 0) {
      // The browser's sending tasks run between ours: look again at once for the first
      // SEND_POLL_MS (a small reply leaves within that), then every millisecond.
      if (performance.now() - started < SEND_POLL_MS) soon(check);
      else setTimeout(check, 1);
      return;
    }
    draining = false;
    callback();
  };
  check();
}

// The reply frame, encoded, with a result's timings multiplied by the slowdown.
function slowed(frame) {
  if (frame.header.type === 'result') {
    frame.header.compute_ms *= slowdown;
    for (const id of Object.keys(frame.header.op_ms || {})) frame.header.op_ms[id] *= slowdown;
  }
  return CorvidWire.encodeFrame(frame.header, frame.tensors);
}

// Sends a computed group's reply (its bytes and its decoded header), updates the counters, and
// moves on to the next group.
function finish(group, reply, header, wallMs, rested = false) {
  const sent = sendBytes(reply);
  const done = { type: 'group', phase: 'done', groupId: group.groupId, ops: group.ops, queued: queue.length, sent };
  if (header.type === 'result') {
    totals.groups += 1;
    totals.ops += group.ops.length;
    totals.computeMs += Number(header.compute_ms) || wallMs;
    done.ok = true;
    done.computeMs = Number(header.compute_ms) || wallMs;
  } else {
    totals.errors += 1;
    done.ok = false;
    done.error = `${header.op_id ? header.op_id + ': ' : ''}${header.error} (${header.kind})`;
    log('error', `Group ${group.groupId} failed: ${done.error}`);
  }
  if (!sent) log('warn', `The connection closed before group ${group.groupId}'s reply could be sent`);
  post(done);
  postTotals();
  if (rested) next();
  else whenSent(() => { rest(); next(); });
}

// After a group: the next queued one, or the slot is ready for more.
function next() {
  if (queue.length) schedulePump();
  else if (socket && socket.readyState === WebSocket.OPEN) setState('ready', '');
}

function closed(event) {
  const ws = socket;
  socket = null;
  if (ws) { ws.onopen = ws.onmessage = ws.onclose = null; }
  clearInterval(heartbeatTimer);
  // The server hands a disconnected worker's groups to others: what is queued here is void.
  queue.length = 0;
  delayed = null;
  if (!wanted) {
    log('info', 'Stopped; disconnected from the server');
    setState('stopped', 'Disconnected; nothing left in flight');
    return;
  }
  const why = event.code === 1008 ? `the server closed the connection: ${event.reason || 'policy violation'}`
    : event.code === 1006 || !event.code ? 'the server is unreachable'
      : `the connection closed (${event.code}${event.reason ? ': ' + event.reason : ''})`;
  // A redirect goes where it said, at once; any other loss moves on to the next server.
  if (redirectTo !== null) {
    currentServer = redirectTo;
    redirectTo = null;
    backoffMs = BACKOFF_FIRST_MS;
  } else {
    currentServer = (currentServer + 1) % servers.length;
  }
  const delay = Math.round(backoffMs * (0.8 + 0.4 * Math.random()));
  backoffMs = Math.min(BACKOFF_MAX_MS, backoffMs * 2);
  log('warn', `Disconnected: ${why}; retrying ${servers.length > 1 ? `at ${serverHost()} ` : ''}in ${(delay / 1000).toFixed(1)} s`);
  setState('reconnecting', why, { retryAt: Date.now() + delay, attempt });
  reconnectTimer = setTimeout(() => { if (wanted) connect(); }, delay);
}

// Hands back the groups not computed yet, then disconnects. The group being computed when
// Stop was pressed has already finished (groups run one per task) and its result was sent.
function stop() {
  if (!wanted) return;
  wanted = false;
  clearTimeout(reconnectTimer);
  const ws = socket;
  if (!ws) {
    setState('stopped', 'Stopped');
    return;
  }
  setState('stopping', 'Handing back in-flight work…');
  const groupIds = queue.map((g) => g.groupId);
  if (delayed) groupIds.unshift(delayed.group.groupId);  // computed, but its reply is held back: hand it back too
  delayed = null;
  if (groupIds.length) {
    send({ type: 'release', group_ids: groupIds });
    totals.released += groupIds.length;
    log('info', `Handed back ${groupIds.length} group(s)`);
  }
  queue.length = 0;
  post({ type: 'totals', totals, queued: 0 });
  // Frames sent before close() still go out before the close frame.
  if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(1000, 'stopped by the volunteer');
  closed({ code: 1000 });
}
