// Loads the Corvid WebAssembly kernel (built by wasm-client/) and exposes it as a small
// synchronous API once loaded. There are two builds of the same kernel: corvid_kernel.js/.wasm
// (simd128, runs everywhere with SIMD) and corvid_kernel_relaxed.js/.wasm (clang-19 with relaxed
// SIMD: f32x4.relaxed_madd, i.e. FMA where the CPU has it). load() picks the relaxed build when
// this engine validates a relaxed-SIMD instruction and the build is there, the plain one otherwise.
//
// Browser, in a classic Web Worker (the kernel is a classic MODULARIZE build, not an ES module):
//   importScripts('wire.js', 'kernel.js');
//   const kernel = await CorvidKernel.load();          // imports corvid_kernel[_relaxed].js itself
//   // the scripts and .wasm are fetched from the worker script's directory, or give
//   // {locateFile: (name) => '/some/dir/' + name}.
// Node (20+; relaxed SIMD needs node --experimental-wasm-relaxed-simd):
//   const { load } = require('./web/kernel.js');
//   const kernel = await load({ dir: '/path/to/build/wasm/wasm-client' });
//   // dir defaults to $CORVID_WASM_DIR; the .wasm is read with fs (Node 20's fetch cannot read paths).
// options.variant: 'auto' (default), 'plain' or 'relaxed' (fails where relaxed SIMD is missing).
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
// kernel.heapBytes() -> number        the size of the kernel's WebAssembly memory now.
// kernel.relaxedSimd -> boolean       true for the relaxed-SIMD build.
// kernel.protocolVersion -> number   the wire protocol version the kernel speaks.
(function (root, factory) {
  if (typeof module === 'object' && module.exports) module.exports = factory();
  else root.CorvidKernel = factory();
})(typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  const isNode = typeof process === 'object' && process.versions && typeof process.versions.node === 'string' &&
    typeof importScripts !== 'function';

  // The two builds: file stem and the factory name its script defines (-sEXPORT_NAME).
  const BUILDS = {
    plain: { stem: 'corvid_kernel', factory: 'createCorvidKernel' },
    relaxed: { stem: 'corvid_kernel_relaxed', factory: 'createCorvidKernelRelaxed' },
  };

  // A module whose one function runs f32x4.relaxed_madd (0xfd 0x85 0x02) on three v128.const:
  // it validates exactly where the engine has relaxed SIMD.
  const RELAXED_PROBE = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b,   // type: () -> v128
    0x03, 0x02, 0x01, 0x00,                     // one function of that type
    0x0a, 0x3d, 0x01, 0x3b, 0x00,               // code: one body of 59 bytes, no locals
    ...[0, 1, 2].flatMap(() => [0xfd, 0x0c, ...new Array(16).fill(0)]),
    0xfd, 0x85, 0x02, 0x0b]);

  // True if this engine runs relaxed SIMD.
  function hasRelaxedSimd() {
    try {
      return typeof WebAssembly === 'object' && WebAssembly.validate(RELAXED_PROBE);
    } catch (e) {
      return false;
    }
  }

  // The builds to try, best first, for options.variant.
  function candidates(variant = 'auto') {
    if (variant === 'plain') return ['plain'];
    if (variant === 'relaxed') {
      if (!hasRelaxedSimd()) throw new Error('CorvidKernel.load: this engine has no relaxed SIMD');
      return ['relaxed'];
    }
    if (variant !== 'auto') throw new Error(`CorvidKernel.load: unknown variant '${variant}' (auto, plain or relaxed)`);
    return hasRelaxedSimd() ? ['relaxed', 'plain'] : ['plain'];
  }

  // The emscripten factory of `build` and its options for this environment; throws when the
  // build's files are not there.
  function factoryAndOptions(options, build) {
    const { stem, factory: factoryName } = BUILDS[build];
    const moduleOptions = {};
    if (options.locateFile) moduleOptions.locateFile = options.locateFile;
    if (options.wasmBinary) moduleOptions.wasmBinary = options.wasmBinary;
    if (isNode) {
      const path = require('path');
      const fs = require('fs');
      const dir = options.dir || process.env.CORVID_WASM_DIR;
      if (!options.factory && !dir) throw new Error('CorvidKernel.load: give {dir} or set CORVID_WASM_DIR');
      const factory = options.factory || require(path.resolve(dir, `${stem}.js`));
      if (!moduleOptions.wasmBinary) moduleOptions.wasmBinary = fs.readFileSync(path.resolve(dir, `${stem}.wasm`));
      return { factory, moduleOptions };
    }
    if (!options.factory && typeof self[factoryName] !== 'function' && typeof importScripts === 'function')
      importScripts(options.locateFile ? options.locateFile(`${stem}.js`) : `${stem}.js`);
    const factory = options.factory || (typeof self[factoryName] === 'function' ? self[factoryName] : null);
    if (!factory) throw new Error(`CorvidKernel.load: load ${stem}.js first (importScripts('${stem}.js'))`);
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
    const heapBytes = () => m.HEAPU8.length;
    return { execute, benchmark, cachedNames, heapBytes, protocolVersion: m._corvid_protocol_version() };
  }

  // Loads the best build this engine runs (see options.variant above); resolves to the kernel
  // API above. options: {dir, locateFile, wasmBinary, factory, variant}. With `factory` or
  // `wasmBinary` given, give `variant` too ('plain' unless those are the relaxed build's).
  async function load(options = {}) {
    const builds = options.factory || options.wasmBinary ? [options.variant === 'relaxed' ? 'relaxed' : 'plain']
      : candidates(options.variant);
    let lastError = null;
    for (const build of builds) {
      let loaded;
      try {
        loaded = factoryAndOptions(options, build);
      } catch (e) {
        lastError = e;  // this build is not there (not built, or not served): try the next one
        continue;
      }
      const kernel = wrap(await loaded.factory(loaded.moduleOptions));
      kernel.relaxedSimd = build === 'relaxed';
      return kernel;
    }
    throw lastError;
  }

  return { load, hasRelaxedSimd };
});
