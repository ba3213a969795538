// libFuzzer target for the frame decoder (shared/wire.cpp decode_frame), which reads every
// WebSocket message the server gets, and for the message decoders of shared/protocol.hpp. Any
// bytes must either decode or throw WireError; a frame that decodes must survive encode_frame and
// decode again to the same header and tensors; a message of its type must decode or throw
// ProtocolError (GraphError for a submit's ops), and a decoded message must encode to a frame
// that decodes again.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "shared/protocol.hpp"
#include "shared/wire.hpp"

using namespace corvid;

namespace {

// Stops the run (a crash for libFuzzer) when a property of the codec does not hold.
void require(bool holds, const char* what) {
  if (holds) return;
  std::cerr << "fuzz_frame: " << what << "\n";
  std::abort();
}

bool same_tensor(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && a.nbytes() == b.nbytes() &&
         (a.nbytes() == 0 || std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0);
}

// Decodes the frame as message M if it has M's type; a decoded message must survive encode and decode.
template <class M>
void check_message(const Frame& frame) {
  if (protocol::type_of(frame) != M::kType) return;
  M message;
  try {
    message = protocol::decode<M>(frame);
  } catch (const protocol::ProtocolError&) {
    return;
  } catch (const GraphError&) {
    return;
  }
  try {
    protocol::decode<M>(protocol::encode(std::move(message)));
  } catch (const std::exception& e) {
    std::cerr << "fuzz_frame: " << e.what() << "\n";
    require(false, "a decoded message, encoded again, does not decode");
  }
}

template <class... M>
void check_messages(const Frame& frame) {
  (check_message<M>(frame), ...);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  Frame frame;
  try {
    frame = decode_frame(data, size);
  } catch (const WireError&) {
    return 0;  // refused with a reason: what the contract asks
  }
  const std::vector<uint8_t> bytes = encode_frame(frame);
  Frame again;
  try {
    again = decode_frame(bytes.data(), bytes.size());
  } catch (const WireError& e) {
    std::cerr << "fuzz_frame: " << e.what() << "\n";
    require(false, "a decoded frame, encoded again, does not decode");
  }
  require(again.header == frame.header, "the header changed in an encode/decode round trip");
  require(again.tensors.size() == frame.tensors.size(), "tensors were lost in an encode/decode round trip");
  for (std::size_t i = 0; i < frame.tensors.size(); ++i) {
    require(again.tensors[i].name == frame.tensors[i].name, "a tensor name changed in an encode/decode round trip");
    require(same_tensor(again.tensors[i].tensor, frame.tensors[i].tensor),
            "a tensor's dtype, shape or bytes changed in an encode/decode round trip");
  }
  using namespace corvid::protocol;
  check_messages<Heartbeat, ErrorReply, WorkerHello, WorkerWelcome, Benchmark, Assign, Result, WorkerError, Release,
                 CancelGroup, Redirect, ClientHello, ClientWelcome, Submit, Submitted, Wait, End, CancelOps, Progress,
                 ValueUpdate, Values, Report, Cancelled>(frame);
  return 0;
}
