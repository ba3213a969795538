// `corvid map`: a map job file (shared ops, a template, slices) run through corvid::MapJob.
#include <set>
#include <iostream>
#include <unordered_map>

#include "commands.hpp"
#include "corvid/graph_file.hpp"
#include "corvid/map_job.hpp"

namespace corvid::cli {

namespace {

// A parsed map job file (format in README "Map jobs").
struct MapFile {
  std::string name;
  GraphSpec shared;                         // ops computed once and usable by every slice
  std::vector<std::string> inputs;          // the template's input names
  std::map<std::string, DType> dtypes;      // optional dtype per input
  GraphSpec templ;                          // the template's ops (ids local to one slice)
  std::string output;                       // the template op whose value is a slice's result
  std::vector<std::vector<Tensor>> slices;  // inputs of each slice, in `inputs` order
};

MapFile parse_map_file(const std::string& text) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    std::string what = e.what();
    const auto pos = what.find("] ");
    throw GraphError("", "invalid JSON: " + (pos == std::string::npos ? what : what.substr(pos + 2)));
  }
  if (!doc.is_object()) throw GraphError("", "a map job file is a JSON object with 'template' and 'slices'");
  MapFile file;
  file.name = doc.value("name", std::string("map job"));
  if (doc.contains("shared")) {
    if (!doc["shared"].is_array()) throw GraphError("", "'shared' must be a list of ops");
    for (const auto& o : doc["shared"]) file.shared.ops.push_back(parse_graph_op(o));
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
  for (const auto& o : t["ops"]) file.templ.ops.push_back(parse_graph_op(o));
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

// Checks the shared ops and the template against every slice's input shapes; throws GraphError
// naming the op (and the slice).
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
      throw GraphError(e.op_id(), "slice " + std::to_string(i) + ": " + e.reason());
    }
    if (checked.empty()) file.templ = std::move(templ);  // keep the topological order
    checked.insert(signature);
  }
}

void draw_bar(const MapStatus& s) {
  const int width = 30;
  const int filled = s.slices ? static_cast<int>(width * (s.computed + s.failed) / s.slices) : 0;
  std::cerr << "\r[" << std::string(filled, '#') << std::string(width - filled, '.') << "] " << s.computed << "/"
            << s.slices << " slices computed";
  if (s.failed) std::cerr << ", " << s.failed << " failed";
  std::cerr << ", " << s.ops_running << " ops running   " << std::flush;
}

}  // namespace

int run_map(const MapArgs& args) {
  MapFile file;
  try {
    file = parse_map_file(read_file(args.file));
    validate_map_file(file);
  } catch (const GraphError& e) {
    std::cerr << "corvid map: " << args.file << ": " << e.what() << "\n";
    return kExitFailed;
  } catch (const std::exception& e) {
    std::cerr << "corvid map: " << e.what() << "\n";
    return kExitUsage;
  }
  GraphOptions options;
  options.server = args.server;
  try {
    parse_server_url(args.server);
  } catch (const std::exception& e) {
    std::cerr << "corvid map: " << e.what() << "\n";
    return kExitUsage;
  }

  try {
    Graph graph(file.name, options);
    std::unordered_map<std::string, Value> shared;
    for (const auto& op : file.shared.ops) {
      if (op.value) shared[op.id] = graph.tensor(*op.value);
      else {
        std::vector<Value> inputs;
        for (const auto& in : op.inputs) inputs.push_back(shared.at(in));
        shared[op.id] = graph.op(op.def->name, inputs, op.params);
      }
    }
    MapJob job(graph, [&](const std::vector<Value>& inputs, std::size_t) {
      auto env = shared;
      for (std::size_t k = 0; k < file.inputs.size(); ++k) env[file.inputs[k]] = inputs[k];
      for (const auto& op : file.templ.ops) {
        if (op.value) {
          env[op.id] = graph.tensor(*op.value);
          continue;
        }
        std::vector<Value> in;
        for (const auto& id : op.inputs) in.push_back(env.at(id));
        env[op.id] = graph.op(op.def->name, in, op.params);
      }
      return env.at(file.output);
    });
    for (const auto& slice : file.slices) job.add_slice(slice);

    auto line = [](nlohmann::json j) { std::cout << j.dump() << "\n" << std::flush; };
    MapEvents events;
    bool bar_drawn = false;
    auto clear_bar = [&] {
      if (bar_drawn) std::cerr << "\r" << std::string(80, ' ') << "\r";
    };
    MapStatus last;
    events.on_posted = [&](std::size_t n, uint64_t graph_id) {
      if (args.json) line({{"event", "posted"}, {"slices", n}, {"graph_id", graph_id}});
      else std::cerr << "posted " << n << " slices as graph " << graph_id << "\n";
    };
    events.on_status = [&](const MapStatus& s) {
      last = s;
      if (args.json)
        line({{"event", "status"}, {"slices", s.slices}, {"computed", s.computed}, {"failed", s.failed},
              {"ops_running", s.ops_running}, {"ops_pending", s.ops_pending}, {"ops_total", s.ops_total}});
      else {
        draw_bar(s);
        bar_drawn = true;
      }
    };
    events.on_result = [&](std::size_t slice, const Tensor& value) {
      last.computed++;
      if (args.json) {
        nlohmann::json j = tensor_to_json(value);
        j["event"] = "result";
        j["slice"] = slice;
        line(j);
      } else {
        clear_bar();
        std::cout << "slice " << slice << ": " << value << "\n" << std::flush;
        draw_bar(last);
        bar_drawn = true;
      }
    };
    events.on_error = [&](std::size_t slice, const std::string& error) {
      last.failed++;
      if (args.json) line({{"event", "error"}, {"slice", slice}, {"error", error}});
      else {
        clear_bar();
        std::cout << "slice " << slice << " failed: " << error << "\n" << std::flush;
      }
    };
    MapOptions map_options;
    map_options.max_time = std::chrono::milliseconds(static_cast<int64_t>(args.max_time_s * 1000));
    const MapOutcome outcome = job.run(events, map_options);
    const std::string status = outcome.ok() ? "computed" : outcome.timed_out ? "timed_out" : "failed";
    if (args.json) {
      line({{"event", "done"}, {"status", status}, {"slices", outcome.results.size()}, {"computed", outcome.computed},
            {"failed", outcome.failed.size()}});
    } else {
      clear_bar();
      std::cerr << status << ": " << outcome.computed << " of " << outcome.results.size() << " slices computed";
      if (!outcome.failed.empty()) std::cerr << ", " << outcome.failed.size() << " failed";
      std::cerr << "\n";
    }
    return outcome.ok() ? kExitOk : kExitFailed;
  } catch (const ServerUnreachable& e) {
    std::cerr << "corvid map: " << e.what() << "\n";
    return kExitUnreachable;
  } catch (const ServerError& e) {
    std::cerr << "corvid map: " << args.file << ": the server refused it: " << e.what() << "\n";
    return kExitFailed;
  } catch (const GraphError& e) {
    std::cerr << "corvid map: " << args.file << ": " << e.what() << "\n";
    return kExitFailed;
  }
}

}  // namespace corvid::cli
