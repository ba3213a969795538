// Headless Chromium driven over a bare DevTools (CDP) connection, for the browser benchmark's
// figures. Playwright instruments every page and Web Worker it drives (it enables the Network
// domain there, so each WebSocket frame is reported over the debugging pipe to Node, a binary
// one base64-encoded): with a tab's slots exchanging 180 frames a second that took half a core
// of the browser process and Node, on a 2-core machine, from the very slots being measured. A
// volunteer's browser has no debugger attached, so the benchmark attaches to pages only and
// enables nothing but Runtime (for evaluate and the page's errors).
//
// The objects mimic the few Playwright calls tests/browser/harness.js makes of a browser, a
// context and a page (newContext, newPage, goto, click, evaluate, waitForFunction, on('pageerror'
// | 'console'), close), so the harness's helpers work on either.
'use strict';

const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const h = require('../../tests/browser/harness');

// One CDP WebSocket connection to the browser: commands with ids, events to listeners by session.
class CdpConnection {
  constructor(socket) {
    this.socket = socket;
    this.nextId = 0;
    this.pending = new Map();   // id → {resolve, reject, method}
    this.listeners = new Map(); // sessionId → (method, params) => void
    socket.onmessage = (event) => this.received(JSON.parse(event.data));
    socket.onclose = () => {
      for (const { reject, method } of this.pending.values()) reject(new Error(`CDP connection closed during ${method}`));
      this.pending.clear();
    };
  }

  static async open(url) {
    const socket = new WebSocket(url);
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = () => reject(new Error(`cannot connect to Chromium's DevTools at ${url}`));
    });
    return new CdpConnection(socket);
  }

  // Sends `method` (in `sessionId`, or to the browser); resolves to its result, rejects with its error.
  send(method, params = {}, sessionId = undefined) {
    const id = ++this.nextId;
    this.socket.send(JSON.stringify({ id, method, params, sessionId }));
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject, method }));
  }

  received(message) {
    if (message.id === undefined) {
      const listener = this.listeners.get(message.sessionId);
      if (listener) listener(message.method, message.params);
      return;
    }
    const call = this.pending.get(message.id);
    if (!call) return;
    this.pending.delete(message.id);
    if (message.error) call.reject(new Error(`${call.method}: ${message.error.message}`));
    else call.resolve(message.result);
  }

  close() { this.socket.close(); }
}

// One tab, attached over its own CDP session.
class BarePage {
  constructor(cdp, targetId, sessionId) {
    Object.assign(this, { cdp, targetId, sessionId });
    this.handlers = { pageerror: [], console: [] };
    cdp.listeners.set(sessionId, (method, params) => {
      if (method === 'Runtime.exceptionThrown') {
        const d = params.exceptionDetails;
        const message = (d.exception && d.exception.description) || d.text;
        for (const handler of this.handlers.pageerror) handler(new Error(message));
      } else if (method === 'Runtime.consoleAPICalled') {
        const text = params.args.map((a) => (a.value !== undefined ? String(a.value) : a.description || '')).join(' ');
        for (const handler of this.handlers.console) handler({ type: () => params.type, text: () => text });
      }
    });
  }

  on(event, handler) {
    if (!this.handlers[event]) throw new Error(`BarePage.on: no '${event}' event`);
    this.handlers[event].push(handler);
  }

  // Navigates and resolves once the document has loaded.
  async goto(url) {
    await this.cdp.send('Page.navigate', { url }, this.sessionId);
    await this.waitForFunction((href) => location.href === href && document.readyState === 'complete', url, { timeout: 30000 });
  }

  // Runs fn(arg) in the page (awaiting a promise it returns); resolves to its JSON-able value.
  async evaluate(fn, arg) {
    const expression = `(${fn.toString()})(${arg === undefined ? '' : JSON.stringify(arg)})`;
    const { result, exceptionDetails } = await this.cdp.send('Runtime.evaluate',
      { expression, awaitPromise: true, returnByValue: true }, this.sessionId);
    if (exceptionDetails) {
      throw new Error(`evaluate: ${(exceptionDetails.exception && exceptionDetails.exception.description) || exceptionDetails.text}`);
    }
    return result.value;
  }

  async click(selector) {
    const found = await this.evaluate((s) => {
      const element = document.querySelector(s);
      if (element) element.click();
      return Boolean(element);
    }, selector);
    if (!found) throw new Error(`click: no element matches ${selector}`);
  }

  // Polls fn(arg) in the page every 50 ms until it is truthy; rejects after options.timeout ms.
  async waitForFunction(fn, arg, { timeout = 30000 } = {}) {
    return h.waitFor(`the page: ${fn.toString().slice(0, 80)}`, () => this.evaluate(fn, arg).catch(() => false), timeout, 50);
  }

  close() { return this.cdp.send('Target.closeTarget', { targetId: this.targetId }).catch(() => {}); }
}

// A set of tabs opened together and closed together (Playwright's BrowserContext, without isolation).
class BareContext {
  constructor(cdp, viewport) {
    Object.assign(this, { cdp, viewport });
    this.pages = [];
  }

  async newPage() {
    const { targetId } = await this.cdp.send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await this.cdp.send('Target.attachToTarget', { targetId, flatten: true });
    const page = new BarePage(this.cdp, targetId, sessionId);
    await this.cdp.send('Runtime.enable', {}, sessionId);
    await this.cdp.send('Page.enable', {}, sessionId);
    if (this.viewport) {
      await this.cdp.send('Emulation.setDeviceMetricsOverride',
        { width: this.viewport.width, height: this.viewport.height, deviceScaleFactor: 1, mobile: false }, sessionId);
    }
    this.pages.push(page);
    return page;
  }

  async close() {
    await Promise.all(this.pages.map((page) => page.close()));
    this.pages = [];
  }
}

// A headless Chromium child process with the harness's flags and a throwaway profile.
class BareBrowser {
  constructor(child, cdp, profileDir) { Object.assign(this, { child, cdp, profileDir }); }

  async newContext({ viewport } = {}) { return new BareContext(this.cdp, viewport); }

  async close() {
    this.cdp.close();
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill();
    await exited;
    fs.rmSync(this.profileDir, { recursive: true, force: true });
  }
}

// Starts /usr/bin/chromium headless with tests/browser/harness.js's flags; resolves to a BareBrowser.
async function launchBareChromium() {
  if (!fs.existsSync('/usr/bin/chromium')) throw new Error('/usr/bin/chromium is missing: run scripts/install-deps.sh');
  const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'corvid-bare-chromium-'));
  const child = spawn('/usr/bin/chromium', [...h.CHROMIUM_ARGS, '--remote-debugging-port=0', `--user-data-dir=${profileDir}`,
    'about:blank'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  child.stderr.on('data', (d) => { output += d; });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  const endpoint = await Promise.race([
    h.waitFor('Chromium to open its DevTools port', () => /DevTools listening on (ws:\/\/\S+)/.exec(output), 30000, 50),
    exited.then((how) => { throw new Error(`chromium exited (${how}):\n${output}`); }),
  ]);
  return new BareBrowser(child, await CdpConnection.open(endpoint[1]), profileDir);
}

module.exports = { launchBareChromium };
