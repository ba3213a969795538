// libFuzzer target for the graph-file parser (shared/graph_spec.cpp), which reads the files
// `corvid submit` is given and the server's submits: any text is parsed, validated against the op
// table and, if valid, turned into the submit frame. Every bad file must give a GraphError (the
// message `corvid submit` prints with the op to blame); any other exception is a crash here.
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>

#include "corvid/graph_file.hpp"

using namespace corvid;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  try {
    GraphSpec spec = parse_graph_file(std::string(reinterpret_cast<const char*>(data), size));
    validate_graph(spec);
    encode_frame(submit_frame(spec, 1, std::nullopt));
  } catch (const GraphError&) {
  } catch (const std::exception& e) {
    std::cerr << "fuzz_graph_file: not a GraphError: " << e.what() << "\n";
    std::abort();
  }
  return 0;
}
