#include "corvid/map_file.hpp"

#include <set>

namespace corvid {

MapFile parse_map_file(const std::string& text) {
  const nlohmann::json doc = parse_json_text(text);
  if (!doc.is_object()) throw GraphError("", "a map job file is a JSON object with 'template' and 'slices'");
  MapFile file;
  file.name = "map job";
  if (doc.contains("name")) {
    if (!doc["name"].is_string()) throw GraphError("", "'name' must be a string");
    file.name = doc["name"].get<std::string>();
  }
  if (doc.contains("shared")) {
    if (!doc["shared"].is_array()) throw GraphError("", "'shared' must be a list of ops");
    for (const auto& o : doc["shared"]) file.shared.ops.push_back(parse_op_spec(o));
  }
  if (!doc.contains("template") || !doc["template"].is_object())
    throw GraphError("", "a map job file needs a 'template' object with 'inputs', 'ops' and 'output'");
  const auto& t = doc["template"];
  if (!t.contains("inputs") || !t["inputs"].is_array() || t["inputs"].empty())
    throw GraphError("", "'template.inputs' must be a non-empty list of names");
  for (const auto& in : t["inputs"]) {
    if (!in.is_string()) throw GraphError("", "'template.inputs' must be a list of names");
    file.inputs.push_back(in.get<std::string>());
  }
  if (t.contains("dtypes")) {
    if (!t["dtypes"].is_object()) throw GraphError("", "'template.dtypes' must map input names to dtypes");
    for (auto& [name, d] : t["dtypes"].items()) {
      auto dtype = d.is_string() ? parse_dtype(d.get<std::string>()) : std::nullopt;
      if (!dtype) throw GraphError("", "unknown dtype " + d.dump() + " for template input '" + name + "'");
      file.dtypes[name] = *dtype;
    }
  }
  if (!t.contains("ops") || !t["ops"].is_array() || t["ops"].empty())
    throw GraphError("", "'template.ops' must be a non-empty list of ops");
  for (const auto& o : t["ops"]) file.templ.ops.push_back(parse_op_spec(o));
  file.output = t.contains("output") && t["output"].is_string() ? t["output"].get<std::string>()
                                                                : file.templ.ops.back().id;
  file.templ.outputs = {file.output};
  if (!doc.contains("slices") || !doc["slices"].is_array() || doc["slices"].empty())
    throw GraphError("", "'slices' must be a non-empty list");
  for (std::size_t i = 0; i < doc["slices"].size(); ++i) {
    const auto& s = doc["slices"][i];
    std::vector<Tensor> values;
    for (const auto& name : file.inputs) {
      const nlohmann::json* v = nullptr;
      if (s.is_object()) {
        if (!s.contains(name)) throw GraphError("", "slice " + std::to_string(i) + " has no value for input '" + name + "'");
        v = &s[name];
      } else if (file.inputs.size() == 1) {
        v = &s;
      } else {
        throw GraphError("", "slice " + std::to_string(i) + " must be an object naming each input (" +
                                 std::to_string(file.inputs.size()) + " inputs)");
      }
      auto d = file.dtypes.find(name);
      try {
        values.push_back(tensor_from_json_value(*v, d == file.dtypes.end() ? std::nullopt : std::optional<DType>(d->second)));
      } catch (const std::exception& e) {
        throw GraphError("", "slice " + std::to_string(i) + ", input '" + name + "': " + e.what());
      }
    }
    file.slices.push_back(std::move(values));
  }
  return file;
}

void validate_map_file(MapFile& file) {
  std::unordered_map<std::string, TensorSpec> known;
  if (!file.shared.ops.empty()) {
    file.shared.outputs.clear();
    known = validate_graph(file.shared);
  }
  for (const auto& name : file.inputs)
    if (known.count(name)) throw GraphError(name, "template input has the same id as a shared op");
  std::set<std::string> checked;  // input signatures already validated
  for (std::size_t i = 0; i < file.slices.size(); ++i) {
    std::vector<TensorSpec> specs;
    std::string signature;
    for (const auto& t : file.slices[i]) {
      specs.push_back(spec_of(t));
      signature += std::string(dtype_name(t.dtype())) + shape_string(t.shape()) + ";";
    }
    if (checked.count(signature)) continue;
    auto with_inputs = known;
    for (std::size_t k = 0; k < file.inputs.size(); ++k) with_inputs[file.inputs[k]] = specs[k];
    GraphSpec templ = file.templ;
    try {
      validate_graph(templ, with_inputs);
    } catch (const GraphError& e) {
      throw e.within("slice " + std::to_string(i) + ": ");
    }
    if (checked.empty()) file.templ = std::move(templ);  // keep the topological order
    checked.insert(signature);
  }
}

}  // namespace corvid
