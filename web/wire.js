// Corvid's binary frame codec for JavaScript: the twin of shared/wire.cpp.
//
// Frame layout (every WebSocket message, and the wasm kernel's input and output):
//   u32 little-endian header length | JSON header | zero padding to 8 bytes | tensor buffers
// The header is a JSON object with a string "type" and, when tensors follow, a "tensors" list of
// {name, dtype, shape, offset, length}; offset is relative to the first buffer byte and every
// buffer starts at a multiple of 8.
//
// API (classic script: `importScripts('wire.js')` defines self.CorvidWire; Node:
// `const wire = require('./wire.js')`; both give the same object):
//   wire.encodeFrame(header, tensors = []) -> Uint8Array
//       header: a plain object with a string `type` (its own `tensors` field is replaced).
//       tensors: [{name, dtype, shape, data}] with dtype one of 'float32' 'float64' 'int32' 'bool',
//       shape an array of non-negative integers, data a Float32Array / Float64Array / Int32Array /
//       Uint8Array (bool: 0 or 1) or a plain array of numbers/booleans, of prod(shape) elements.
//   wire.decodeFrame(bytes) -> {header, tensors: [{name, dtype, shape, data}]}
//       bytes: ArrayBuffer or Uint8Array. header loses its `tensors` field. data is a typed array
//       of the dtype above; it may share memory with `bytes` (copy it before reusing `bytes`).
//   Both throw wire.WireError with a message naming the problem (as shared/wire.cpp does).
//   JSON.parse loses the difference between 3.0 and 3 in headers: hand frames from the server to
//   the kernel as the bytes received, rather than decoding and re-encoding them.
//   wire.DTYPES: {float32: Float32Array, float64: Float64Array, int32: Int32Array, bool: Uint8Array}
(function (root, factory) {
  if (typeof module === 'object' && module.exports) module.exports = factory();
  else root.CorvidWire = factory();
})(typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  const DTYPES = { float32: Float32Array, float64: Float64Array, int32: Int32Array, bool: Uint8Array };
  const MAX_DIMS = 32;

  // A frame that cannot be encoded or decoded; message says why.
  class WireError extends Error {
    constructor(message) {
      super(message);
      this.name = 'WireError';
    }
  }

  const pad8 = (n) => (n + 7) & ~7;
  const elementCount = (shape) => shape.reduce((a, d) => a * d, 1);
  // "(2, 3)", "(3,)", "()" as NumPy and shared/tensor.cpp print shapes.
  const shapeString = (shape) => `(${shape.join(', ')}${shape.length === 1 ? ',' : ''})`;

  function checkShape(shape, what) {
    if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0))
      throw new WireError(`${what}: shape must be a list of non-negative integers`);
    if (shape.length > MAX_DIMS) throw new WireError(`${what}: more than ${MAX_DIMS} dimensions`);
  }

  // The tensor's data as a typed array of its dtype (plain arrays are converted).
  function typedData(t) {
    const what = `tensor '${t.name}'`;
    const Type = DTYPES[t.dtype];
    if (!Type) throw new WireError(`${what}: unknown dtype '${t.dtype}'`);
    checkShape(t.shape, what);
    let data = t.data;
    if (Array.isArray(data)) data = Type.from(data, (v) => (t.dtype === 'bool' ? (v ? 1 : 0) : v));
    if (!(data instanceof Type))
      throw new WireError(`${what}: data must be a ${Type.name} or an array for dtype ${t.dtype}`);
    const n = elementCount(t.shape);
    if (data.length !== n)
      throw new WireError(`${what}: ${data.length} values for shape ${shapeString(t.shape)}`);
    return data;
  }

  function encodeFrame(header, tensors = []) {
    if (header === null || typeof header !== 'object' || Array.isArray(header))
      throw new WireError('encodeFrame: header must be an object');
    const h = Object.assign({}, header);
    delete h.tensors;
    const datas = tensors.map(typedData);
    let offset = 0;
    if (tensors.length) {
      h.tensors = tensors.map((t, i) => {
        const entry = { name: String(t.name), dtype: t.dtype, shape: t.shape, offset, length: datas[i].byteLength };
        offset += pad8(datas[i].byteLength);
        return entry;
      });
    }
    const text = new TextEncoder().encode(JSON.stringify(h));
    const body = pad8(4 + text.length);
    const out = new Uint8Array(body + offset);
    new DataView(out.buffer).setUint32(0, text.length, true);
    out.set(text, 4);
    h.tensors && h.tensors.forEach((entry, i) => {
      const d = datas[i];
      out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), body + entry.offset);
    });
    return out;
  }

  function decodeFrame(bytes) {
    const u8 = bytes instanceof Uint8Array ? bytes : bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : null;
    if (!u8) throw new WireError('decodeFrame: expected an ArrayBuffer or a Uint8Array');
    const size = u8.length;
    if (size < 4) throw new WireError(`frame too short: ${size} bytes, need at least 4`);
    const len = new DataView(u8.buffer, u8.byteOffset, 4).getUint32(0, true);
    if (len === 0 || len > size - 4) throw new WireError(`header length ${len} does not fit a frame of ${size} bytes`);
    let header;
    try {
      header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(u8.subarray(4, 4 + len)));
    } catch (e) {
      throw new WireError('header is not valid JSON');
    }
    if (header === null || typeof header !== 'object' || Array.isArray(header))
      throw new WireError('header must be a JSON object');
    if (typeof header.type !== 'string') throw new WireError("header has no string field 'type'");
    const tensors = [];
    if (!('tensors' in header)) return { header, tensors };
    const list = header.tensors;
    delete header.tensors;
    if (!Array.isArray(list)) throw new WireError("'tensors' must be a list");
    const body = Math.min(pad8(4 + len), size);
    const avail = size - body;
    let endOfLast = 0;
    for (const e of list) {
      if (e === null || typeof e !== 'object' || typeof e.name !== 'string')
        throw new WireError("tensor entry without a string 'name'");
      const bad = (why) => new WireError(`tensor '${e.name}': ${why}`);
      if (typeof e.dtype !== 'string') throw bad('missing dtype');
      const Type = DTYPES[e.dtype];
      if (!Type) throw bad(`unknown dtype '${e.dtype}'`);
      if (!Array.isArray(e.shape)) throw bad('missing shape');
      checkShape(e.shape, `tensor '${e.name}'`);
      const { offset, length } = e;
      if (!Number.isInteger(offset) || offset < 0 || !Number.isInteger(length) || length < 0)
        throw bad('offset and length must be non-negative integers');
      if (elementCount(e.shape) * Type.BYTES_PER_ELEMENT !== length)
        throw bad(`length ${length} does not match ${e.dtype}${shapeString(e.shape)}`);
      if (offset % 8 !== 0) throw bad('offset is not a multiple of 8');
      if (offset < endOfLast) throw bad('overlaps the previous tensor');
      if (offset > avail || length > avail - offset) throw bad('extends past the end of the frame');
      endOfLast = offset + length;
      const start = u8.byteOffset + body + offset;
      const data = start % Type.BYTES_PER_ELEMENT === 0
        ? new Type(u8.buffer, start, length / Type.BYTES_PER_ELEMENT)
        : new Type(u8.slice(body + offset, body + offset + length).buffer);
      if (e.dtype === 'bool' && data.some((v) => v > 1)) throw bad('bool values must be 0 or 1');
      tensors.push({ name: e.name, dtype: e.dtype, shape: e.shape.slice(), data });
    }
    return { header, tensors };
  }

  return { encodeFrame, decodeFrame, WireError, DTYPES };
});
