// A minimal developer client for /ws/client (docs/protocol.md) for the browser benchmark: one
// WebSocket (Node's built-in client, `node --experimental-websocket` on Node 20), frames encoded
// with web/wire.js, one request at a time or several in flight keyed by request_id.
'use strict';

const path = require('path');
const wire = require(path.join(__dirname, '..', '..', 'web', 'wire.js'));

// One connection to /ws/client. Not safe for concurrent connect(); requests may overlap.
class DevClient {
  constructor(url, token, name = 'browser-benchmark') {
    Object.assign(this, { url, token, name });
    this.nextRequest = 1;
    this.pending = new Map();  // request_id -> {resolve, reject}
  }

  // Resolves once the server answered hello with welcome.
  connect() {
    if (typeof WebSocket !== 'function') throw new Error('run node with --experimental-websocket (Node 20)');
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      ws.binaryType = 'arraybuffer';
      this.ws = ws;
      ws.onopen = () => ws.send(wire.encodeFrame({ type: 'hello', version: 1, token: this.token, name: this.name }));
      ws.onerror = () => reject(new Error(`cannot connect to ${this.url}`));
      ws.onclose = (e) => {
        const error = new Error(`connection closed (${e.code} ${e.reason})`);
        for (const p of this.pending.values()) p.reject(error);
        this.pending.clear();
        reject(error);
      };
      ws.onmessage = (event) => {
        const frame = wire.decodeFrame(new Uint8Array(event.data));
        const h = frame.header;
        if (h.type === 'welcome') return resolve(this);
        if (h.type === 'progress') return;
        const waiter = this.pending.get(h.request_id);
        if (!waiter) {
          if (h.type === 'error') reject(new Error(`server: ${h.error}`));
          return;
        }
        this.pending.delete(h.request_id);
        if (h.type === 'error') waiter.reject(new Error(`server: ${h.op_id ? h.op_id + ': ' : ''}${h.error}`));
        else waiter.resolve(frame);
      };
    });
  }

  request(header, tensors = []) {
    const request_id = this.nextRequest++;
    return new Promise((resolve, reject) => {
      this.pending.set(request_id, { resolve, reject });
      this.ws.send(wire.encodeFrame({ ...header, request_id }, tensors));
    });
  }

  // Submits ops (graph file format) as a new graph, or adds them to graph `graphId` when given;
  // resolves to the graph_id.
  async submit(name, ops, outputs, graphId) {
    const header = { type: 'submit', name, ops, outputs };
    if (graphId !== undefined) header.graph_id = graphId;
    const reply = await this.request(header);
    return reply.header.graph_id;
  }

  // Waits for the graph's outputs (or the ops `ids`); resolves to the "values" frame.
  wait(graphId, ids) {
    const header = { type: 'wait', graph_id: graphId, stream: false };
    if (ids) header.ids = ids;
    return this.request(header);
  }

  close() { if (this.ws) this.ws.close(); }
}

module.exports = { DevClient };
