// Shared pieces of the browser end-to-end tests and the browser benchmark: a real corvid-server
// on a free port with a temporary data directory, Debian's Chromium driven by playwright-core,
// tabs that press Participate, `corvid submit`, NumPy reference values and screenshots.
// Each test script is a plain Node program: it exits 0 when every check passed and 1 (with the
// failed check's message) otherwise.
'use strict';

const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const REPO = path.resolve(__dirname, '..', '..');

// Flags that let Chromium run as root on a headless machine without reaching for the network.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// Command-line flags "--name value" as an object (camelCase keys).
function parseArgs(argv = process.argv.slice(2)) {
  const args = {};
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z-]+)$/.exec(argv[i]);
    if (!m) throw new Error(`unexpected argument '${argv[i]}'`);
    const key = m[1].replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) args[key] = true;
    else { args[key] = next; i++; }
  }
  return args;
}

function requireArg(args, name) {
  const key = name.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
  if (!args[key]) throw new Error(`missing --${name}`);
  return args[key];
}

function log(...parts) { console.log(`[${new Date().toISOString().slice(11, 23)}]`, ...parts); }

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
  log(`ok: ${message}`);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Polls fn() until it returns a truthy value and returns that value; throws `what` after timeoutMs.
async function waitFor(what, fn, timeoutMs = 60000, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let lastError = null;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
      lastError = null;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${lastError.message})` : ''}`);
    await sleep(everyMs);
  }
}

function loadPlaywright() {
  try {
    return require(path.join(REPO, 'node_modules', 'playwright-core'));
  } catch (e) {
    throw new Error('playwright-core is not installed: run scripts/install-deps.sh (it runs `npm ci`)');
  }
}

// A corvid-server child process on 127.0.0.1. start() resolves once it listens; url is
// http://127.0.0.1:<port>. port 0 picks a free port (the server prints the one it bound). webDir: the
// pages it serves (a test may serve a modified copy, e.g. a lying tab's).
class ServerProcess {
  constructor({ serverBin, dataDir, port = 0, wasmDir, webDir = path.join(REPO, 'web'), extraArgs = [] }) {
    Object.assign(this, { serverBin, dataDir, port, wasmDir, webDir, extraArgs });
    this.output = '';
    this.child = null;
  }

  async start() {
    if (!fs.existsSync(this.serverBin)) throw new Error(`corvid-server not found at ${this.serverBin}`);
    const args = ['--host', '127.0.0.1', '--port', String(this.port), '--data-dir', this.dataDir,
      '--web-dir', this.webDir, ...this.extraArgs];
    if (this.wasmDir) args.push('--wasm-dir', this.wasmDir);
    this.output = '';
    const child = spawn(this.serverBin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout.on('data', (d) => { this.output += d; });
    child.stderr.on('data', (d) => { this.output += d; });
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    this.exited = exited;
    const listening = await Promise.race([
      waitFor('corvid-server to listen', () => /listening on http:\/\/[^:]+:(\d+)\//.exec(this.output), 20000, 50),
      exited.then(({ code, signal }) => { throw new Error(`corvid-server exited (${code ?? signal}):\n${this.output}`); }),
    ]);
    this.port = Number(listening[1]);
    this.url = `http://127.0.0.1:${this.port}`;
    log(`corvid-server listening on ${this.url} (data ${this.dataDir})`);
    return this;
  }

  token() { return fs.readFileSync(path.join(this.dataDir, 'token'), 'utf8').trim(); }

  async status() {
    const response = await fetch(`${this.url}/api/status`);
    if (!response.ok) throw new Error(`/api/status answered ${response.status}`);
    return response.json();
  }

  // Stops the server with SIGTERM (SIGKILL if it does not exit within 5 s).
  async stop() {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}

async function launchBrowser() {
  if (!fs.existsSync('/usr/bin/chromium')) throw new Error('/usr/bin/chromium is missing: run scripts/install-deps.sh');
  const { chromium } = loadPlaywright();
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
}

// Starts corvid-server (--server-bin, on a free port with the test's data directory and
// --wasm-dir, then `extraArgs`) and Chromium, keeping both in t so that runTest cleans them up; resolves to a new
// 1280x900 browser context.
async function startServerAndBrowser(t, extraArgs = []) {
  t.server = await new ServerProcess({ serverBin: requireArg(t.args, 'server-bin'), dataDir: t.dataDir,
    wasmDir: t.args.wasmDir, extraArgs }).start();
  t.browser = await launchBrowser();
  return t.browser.newContext({ viewport: { width: 1280, height: 900 } });
}

// Clicks the Participate page's button `buttonId` (stop, pause) the moment a group arrives: the
// page shows "Group N" when a slot starts a group, so the click lands while the tab holds it.
async function clickWhenGroupArrives(page, buttonId) {
  await page.evaluate((id) => {
    const title = document.getElementById('current-title');
    new MutationObserver((_, observer) => {
      if (!title.textContent.startsWith('Group ')) return;
      observer.disconnect();
      document.getElementById(id).click();
    }).observe(title, { childList: true, characterData: true, subtree: true });
  }, buttonId);
}

// Sets the Participate page's "Cores to lend" control as a volunteer drags it.
async function setCores(page, cores) {
  await page.evaluate((n) => {
    const input = document.getElementById('cores');
    input.value = String(n);
    input.dispatchEvent(new Event('input', { bubbles: true }));
  }, cores);
}

// Opens the Participate page (with an optional query such as "?slowdown=4") in a new tab,
// records the page's errors, sets how many cores it lends (1 unless `cores` says otherwise, so
// a test means the same on every machine), and presses Participate. Resolves once every slot is
// connected and has a worker id.
async function openParticipatingTab(context, url, label, query = '', { cores = 1 } = {}) {
  const page = await context.newPage();
  page.corvidErrors = [];
  page.on('pageerror', (e) => page.corvidErrors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') page.corvidErrors.push(m.text()); });
  await page.goto(`${url}/${query}`);
  await setCores(page, cores);
  await page.click('#participate');
  await page.waitForFunction((n) => ['ready', 'working'].includes(document.getElementById('state').dataset.state) &&
    new RegExp(`^\\d+(, \\d+){${n - 1}}$`).test(document.getElementById('worker-id').textContent), cores, { timeout: 60000 });
  const info = await tabCounters(page);
  log(`${label}: participating as worker ${info.workerId}, benchmark ${info.score} GFLOPS`);
  return page;
}

// The Participate page's counters, read from the DOM as a volunteer sees them. The page redraws
// them at most every 200 ms (VIEW_EVERY_MS in web/participate.js): read after one redraw.
async function tabCounters(page) {
  await new Promise((resolve) => setTimeout(resolve, 250));
  return page.evaluate(() => {
    const text = (id) => document.getElementById(id).textContent.trim();
    const number = (id) => Number(text(id).replace(/,/g, ''));
    return { state: document.getElementById('state').dataset.state, workerId: text('worker-id'), score: text('score'),
      groups: number('groups-done'), ops: number('ops-done'), errors: number('error-count') };
  });
}

// Runs `corvid submit FILE --wait --json` against the server; resolves to the parsed JSON output.
function submitGraph({ corvidBin, server, file, extraArgs = [] }) {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, CORVID_TOKEN: server.token(), CORVID_SERVER: `ws://127.0.0.1:${server.port}` };
    const child = spawn(corvidBin, ['submit', file, '--wait', '--json', '--server', `ws://127.0.0.1:${server.port}`, ...extraArgs],
      { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`corvid submit exited ${code}: ${err}${out}`));
      try {
        resolve(JSON.parse(out));
      } catch (e) {
        reject(new Error(`corvid submit --json printed no JSON (${e.message}): ${out}`));
      }
    });
  });
}

// The output values in `corvid submit --json` output: {id: {dtype, shape, data}}.
function submitValues(result) {
  if (!result.outputs || typeof result.outputs !== 'object')
    throw new Error(`corvid submit --json printed no outputs: ${JSON.stringify(result).slice(0, 300)}`);
  return result.outputs;
}

// Reference values of a graph file computed with NumPy (tests/browser/numpy_reference.py).
function numpyReference(file) {
  const out = execFileSync('/usr/bin/python3', [path.join(__dirname, 'numpy_reference.py'), file], { encoding: 'utf8', maxBuffer: 1 << 30 });
  return JSON.parse(out);
}

// Flat row-major values of a {dtype, shape, data} JSON tensor.
function flat(value) { return Array.isArray(value.data) ? value.data.flat(Infinity) : [value.data]; }

// Compares corvid's value with NumPy's: same shape, every element within rtol/atol.
function checkClose(id, got, want, rtol = 1e-4, atol = 1e-5) {
  check(JSON.stringify(got.shape) === JSON.stringify(want.shape),
    `${id}: shape ${JSON.stringify(got.shape)} equals NumPy's ${JSON.stringify(want.shape)}`);
  const a = flat(got), b = flat(want);
  let worst = 0, worstAt = -1;
  for (let i = 0; i < b.length; i++) {
    const err = Math.abs(a[i] - b[i]) - (atol + rtol * Math.abs(b[i]));
    if (!(err <= 0) && (worstAt < 0 || err > worst)) { worst = err; worstAt = i; }
  }
  check(a.length === b.length && worstAt < 0,
    `${id}: ${b.length} values match NumPy` + (worstAt >= 0 ? ` (element ${worstAt}: ${a[worstAt]} vs ${b[worstAt]})` : ''));
}

// Saves a screenshot of page at desktop (1280×900) and phone (390×844) widths into dir as
// <name>-desktop.png and <name>-phone.png (full page); returns the paths.
async function screenshots(page, dir, name) {
  fs.mkdirSync(dir, { recursive: true });
  const paths = [];
  for (const [tag, size] of [['desktop', { width: 1280, height: 900 }], ['phone', { width: 390, height: 844 }]]) {
    await page.setViewportSize(size);
    await sleep(1300);  // one poll / one chart redraw at the new width
    const file = path.join(dir, `${name}-${tag}.png`);
    await page.screenshot({ path: file, fullPage: true });
    paths.push(file);
  }
  await page.setViewportSize({ width: 1280, height: 900 });
  log(`screenshots: ${paths.join(', ')}`);
  return paths;
}

function tempDir(prefix) { return fs.mkdtempSync(path.join(os.tmpdir(), prefix)); }

// Runs a test body with a fresh server and browser and cleans up whatever happens; exits the
// process with 0 or 1.
async function runTest(name, body) {
  const args = parseArgs();
  const dataDir = tempDir('corvid-browser-test-');
  const resources = { server: null, browser: null, args, dataDir };
  let failed = false;
  try {
    log(`test: ${name}`);
    await body(resources);
    log(`passed: ${name}`);
  } catch (e) {
    failed = true;
    console.error(`FAILED: ${name}\n${e.stack || e}`);
    if (resources.server) console.error(`--- corvid-server output ---\n${resources.server.output}`);
  } finally {
    if (resources.browser) await resources.browser.close().catch(() => {});
    if (resources.server) await resources.server.stop().catch(() => {});
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  process.exit(failed ? 1 : 0);
}

module.exports = {
  CHROMIUM_ARGS, parseArgs, requireArg, log, check, sleep, waitFor, ServerProcess, launchBrowser, startServerAndBrowser, clickWhenGroupArrives,
  setCores, openParticipatingTab, tabCounters, submitGraph, submitValues, numpyReference, checkClose, screenshots, tempDir, runTest,
};
