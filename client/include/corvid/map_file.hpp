// The map job file of `corvid map` (format in client/README.md, "corvid map"): shared ops, a
// template subgraph with named inputs, and the slices' input values.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "corvid/graph_file.hpp"

namespace corvid {

// A parsed map job file.
struct MapFile {
  std::string name;
  GraphSpec shared;                         // ops computed once and usable by every slice
  std::vector<std::string> inputs;          // the template's input names
  std::map<std::string, DType> dtypes;      // optional dtype per input
  GraphSpec templ;                          // the template's ops (ids local to one slice)
  std::string output;                       // the template op whose value is a slice's result
  std::vector<std::vector<Tensor>> slices;  // inputs of each slice, in `inputs` order
};

// Parses the text of a map job file; throws GraphError for invalid JSON, a malformed section or
// op, or a slice value that is missing or not a tensor.
MapFile parse_map_file(const std::string& text);

// Checks the shared ops and the template against every distinct input shape of the slices and
// puts both in topological order; throws GraphError naming the op (and the slice).
void validate_map_file(MapFile& file);

}  // namespace corvid
