// Loads the Corvid WebAssembly kernel (corvid_kernel.js + corvid_kernel.wasm, built by
// wasm-client/) and exposes it as a small synchronous API once loaded.
//
// Browser, in a classic Web Worker (the kernel is a classic MODULARIZE build, not an ES module):
//   importScripts('corvid_kernel.js', 'wire.js', 'kernel.js');
//   const kernel = await CorvidKernel.load();          // uses self.createCorvidKernel;
//   // corvid_kernel.wasm is fetched from the worker script's directory, or give
//   // {locateFile: (name) => '/some/dir/' + name}.
// Node (20+):
//   const { load } = require('./web/kernel.js');
//   const kernel = await load({ dir: '/path/to/build/wasm/wasm-client' });
//   // dir defaults to $CORVID_WASM_DIR; the .wasm is read with fs (Node 20's fetch cannot read paths).
//
// kernel.execute(frameBytes) -> Uint8Array
//     frameBytes: an "assign" frame (ArrayBuffer or Uint8Array, see wire.js and docs/protocol.md).
//     Returns the reply frame ("result" with the output tensors, or "error" with op_id, error,
//     kind), a copy owned by the caller. One executor lives for the whole module, so tensors an
//     assign lists in "keep" stay available to later groups (LRU, 256 MB). Never throws for a bad
//     frame: the reply is an "error" frame of kind "malformed". Only a WebAssembly trap (a kernel
//     bug) throws (a WebAssembly.RuntimeError); the module is unusable afterwards: load a new one.
// kernel.benchmark(budgetMs = 600) -> the fields of the `benchmark` message (shared/protocol.hpp):
//   {matmul_gflops, elementwise_gbs, reduce_gbs, duration_ms}
//     Measures this device (blocks the calling thread for about budgetMs; run it in the worker).
// kernel.cachedNames() -> [string]   names of the tensors the executor keeps.
// kernel.protocolVersion -> number   the wire protocol version the kernel speaks.
(function (root, factory) {
  if (typeof module === 'object' && module.exports) module.exports = factory();
  else root.CorvidKernel = factory();
})(typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  const isNode = typeof process === 'object' && process.versions && typeof process.versions.node === 'string' &&
    typeof importScripts !== 'function';

  // The emscripten factory and its options for this environment.
  function factoryAndOptions(options) {
    const moduleOptions = {};
    if (options.locateFile) moduleOptions.locateFile = options.locateFile;
    if (options.wasmBinary) moduleOptions.wasmBinary = options.wasmBinary;
    if (isNode) {
      const path = require('path');
      const fs = require('fs');
      const dir = options.dir || process.env.CORVID_WASM_DIR;
      if (!options.factory && !dir) throw new Error('CorvidKernel.load: give {dir} or set CORVID_WASM_DIR');
      const factory = options.factory || require(path.resolve(dir, 'corvid_kernel.js'));
      if (!moduleOptions.wasmBinary) moduleOptions.wasmBinary = fs.readFileSync(path.resolve(dir, 'corvid_kernel.wasm'));
      return { factory, moduleOptions };
    }
    const factory = options.factory || (typeof createCorvidKernel === 'function' ? createCorvidKernel : null);
    if (!factory) throw new Error("CorvidKernel.load: load corvid_kernel.js first (importScripts('corvid_kernel.js'))");
    return { factory, moduleOptions };
  }

  // Wraps a ready emscripten module instance.
  function wrap(m) {
    // The heap can grow (and be replaced) during any call: always read m.HEAPU8 afresh.
    function execute(frameBytes) {
      const bytes = frameBytes instanceof Uint8Array ? frameBytes : new Uint8Array(frameBytes);
      const ptr = m._corvid_alloc(bytes.length);
      if (!ptr) throw new Error(`CorvidKernel.execute: cannot allocate ${bytes.length} bytes in the wasm heap`);
      try {
        m.HEAPU8.set(bytes, ptr);
        const size = m._corvid_execute(ptr, bytes.length);
        const at = m._corvid_reply_data();
        return m.HEAPU8.slice(at, at + size);
      } finally {
        m._corvid_free(ptr);
      }
    }
    function benchmark(budgetMs = 600) {
      return JSON.parse(m.UTF8ToString(m._corvid_benchmark(budgetMs)));
    }
    function cachedNames() {
      return JSON.parse(m.UTF8ToString(m._corvid_cached_names()));
    }
    return { execute, benchmark, cachedNames, protocolVersion: m._corvid_protocol_version() };
  }

  // Loads the module; resolves to the kernel API above. options: {dir, locateFile, wasmBinary, factory}.
  async function load(options = {}) {
    const { factory, moduleOptions } = factoryAndOptions(options);
    return wrap(await factory(moduleOptions));
  }

  return { load };
});
