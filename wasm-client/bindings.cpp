// The WebAssembly entry points of the kernel: the only Emscripten-specific code of Corvid.
// JavaScript (web/kernel.js) copies a frame into memory from corvid_alloc, calls corvid_execute,
// and reads the reply from corvid_reply_data / corvid_reply_size. Not thread-safe: one module
// instance per Web Worker (or Node process), which is how it is loaded.
#include <emscripten/emscripten.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "shared/device_benchmark.hpp"
#include "shared/group_executor.hpp"
#include "shared/protocol.hpp"
#include "shared/wire.hpp"

namespace {

// The worker's one executor: its kept tensors persist from one group to the next.
corvid::GroupExecutor& executor() {
  static corvid::GroupExecutor instance;
  return instance;
}

std::vector<uint8_t> reply_bytes;  // the last reply frame, valid until the next call
std::string text_result;           // the last JSON text result, valid until the next call

// The reply for a frame that does not decode: an "error" of kind "malformed".
std::vector<uint8_t> malformed_reply(const std::string& why) {
  return corvid::encode_frame(corvid::protocol::encode(
      corvid::protocol::WorkerError{0, "", why, corvid::protocol::WorkerErrorKind::malformed}));
}

}  // namespace

extern "C" {

// A buffer of `size` bytes for the caller to fill (release it with corvid_free); null if out of memory.
EMSCRIPTEN_KEEPALIVE uint8_t* corvid_alloc(std::size_t size) {
  return static_cast<uint8_t*>(std::malloc(size ? size : 1));
}

EMSCRIPTEN_KEEPALIVE void corvid_free(uint8_t* ptr) { std::free(ptr); }

// Executes the "assign" frame of `size` bytes at `data` and stores the "result" or "error"
// reply frame; returns its size (read it at corvid_reply_data()). Never traps on bad input:
// an undecodable frame gets an error reply of kind "malformed".
EMSCRIPTEN_KEEPALIVE std::size_t corvid_execute(const uint8_t* data, std::size_t size) {
  try {
    reply_bytes = corvid::encode_frame(executor().execute(corvid::decode_frame(data, size)));
  } catch (const std::exception& e) {
    reply_bytes = malformed_reply(e.what());
  }
  return reply_bytes.size();
}

EMSCRIPTEN_KEEPALIVE const uint8_t* corvid_reply_data() { return reply_bytes.data(); }
EMSCRIPTEN_KEEPALIVE std::size_t corvid_reply_size() { return reply_bytes.size(); }

// Runs the device benchmark for about budget_ms and returns the fields of the `benchmark`
// message (shared/protocol.hpp) as a JSON object, {"matmul_gflops","elementwise_gbs",
// "reduce_gbs","duration_ms"} (NUL-terminated UTF-8).
EMSCRIPTEN_KEEPALIVE const char* corvid_benchmark(double budget_ms) {
  nlohmann::json fields = corvid::protocol::encode(corvid::protocol::Benchmark{corvid::run_device_benchmark(budget_ms)}).header;
  fields.erase("type");
  text_result = fields.dump();
  return text_result.c_str();
}

// The names of the tensors the executor keeps, as a JSON list (reported to the server on reconnect).
EMSCRIPTEN_KEEPALIVE const char* corvid_cached_names() {
  text_result = nlohmann::json(executor().cached_names()).dump();
  return text_result.c_str();
}

// The protocol version this kernel speaks (wire.hpp kProtocolVersion).
EMSCRIPTEN_KEEPALIVE int corvid_protocol_version() { return corvid::kProtocolVersion; }

}  // extern "C"
