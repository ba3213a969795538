// Assembles the one op table from the family files and wraps its rows with the checks every
// op shares (arity, params by name and type, output size, error naming, output verification).
#include <algorithm>
#include <cstdio>
#include <unordered_map>

#include "families.hpp"

namespace corvid {

double spec_bytes(const TensorSpec& spec) {
  double n = static_cast<double>(dtype_size(spec.dtype));
  for (int64_t d : spec.shape) n *= d < 0 ? 1.0 : static_cast<double>(d);
  return n;
}

std::string_view family_name(OpFamily family) {
  switch (family) {
    case OpFamily::source: return "source";
    case OpFamily::unary: return "unary";
    case OpFamily::binary: return "binary";
    case OpFamily::ternary: return "ternary";
    case OpFamily::reduce: return "reduce";
    case OpFamily::linalg: return "linalg";
    case OpFamily::movement: return "movement";
    case OpFamily::activation: return "activation";
    case OpFamily::nn: return "nn";
    case OpFamily::optim: return "optim";
  }
  return "invalid";
}

std::string_view param_type_name(ParamType type) {
  switch (type) {
    case ParamType::integer: return "int";
    case ParamType::int_list: return "int_list";
    case ParamType::boolean: return "bool";
    case ParamType::number: return "number";
    case ParamType::number_list: return "number_list";
    case ParamType::number_or_bool: return "number_or_bool";
    case ParamType::dtype: return "dtype";
    case ParamType::tensor_value: return "tensor_value";
  }
  return "invalid";
}

namespace {

std::vector<OpDef> build_table() {
  std::vector<OpDef> table;
  for (auto rows : {ops::source_rows(), ops::elementwise_rows(), ops::reduce_rows(), ops::linalg_rows(),
                    ops::movement_rows(), ops::nn_rows(), ops::optim_rows()})
    for (auto& row : rows) table.push_back(std::move(row));
  return table;
}

struct Index {
  std::unordered_map<std::string_view, const OpDef*> by_name;
  explicit Index(const std::vector<OpDef>& table) {
    for (const auto& op : table) {
      if (!op.infer || !op.kernel) throw std::logic_error("op table: row " + std::string(op.name) + " is incomplete");
      auto add = [&](std::string_view name) {
        if (!by_name.emplace(name, &op).second)
          throw std::logic_error("op table: duplicate name or alias " + std::string(name));
      };
      add(op.name);
      for (auto alias : op.aliases) add(alias);
    }
  }
};

const Index& index() {
  static const Index idx(op_table());
  return idx;
}

// "axis, keepdims", or "none" for an op without params.
std::string accepted_names(const OpDef& op) {
  std::string names;
  for (const auto& spec : op.params) names += (names.empty() ? "" : ", ") + std::string(spec.name);
  return names.empty() ? "none" : names;
}

// "1.9 GiB", or "534.1 MiB" below a GiB.
std::string size_text(double bytes) {
  const bool gib = bytes >= double(1 << 30);
  char text[32];
  std::snprintf(text, sizeof text, "%.1f %s", bytes / (gib ? double(1 << 30) : double(1 << 20)), gib ? "GiB" : "MiB");
  return text;
}

std::string arity_text(const OpDef& op) {
  if (op.max_inputs < 0) return "at least " + std::to_string(op.min_inputs);
  if (op.min_inputs == op.max_inputs) return std::to_string(op.min_inputs);
  return std::to_string(op.min_inputs) + " to " + std::to_string(op.max_inputs);
}

}  // namespace

const std::vector<OpDef>& op_table() {
  static const std::vector<OpDef> table = build_table();
  return table;
}

const OpDef* find_op(std::string_view name) {
  const auto& by_name = index().by_name;
  auto it = by_name.find(name);
  return it == by_name.end() ? nullptr : it->second;
}

std::string closest_name(std::string_view name, const std::vector<std::string>& candidates) {
  const std::size_t limit = std::max<std::size_t>(1, name.size() / 3);
  std::string best;
  std::size_t best_distance = limit + 1;
  std::vector<std::size_t> row, next;
  for (const auto& c : candidates) {
    // Levenshtein distance, one row at a time.
    row.resize(c.size() + 1);
    for (std::size_t j = 0; j <= c.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= name.size(); ++i) {
      next.assign(c.size() + 1, 0);
      next[0] = i;
      for (std::size_t j = 1; j <= c.size(); ++j)
        next[j] = std::min({row[j] + 1, next[j - 1] + 1, row[j - 1] + (name[i - 1] == c[j - 1] ? 0 : 1)});
      row.swap(next);
    }
    if (row[c.size()] < best_distance) best_distance = row[c.size()], best = c;
  }
  return best;
}

std::string op_name_hint(std::string_view name) {
  std::vector<std::string> names;
  for (const auto& op : op_table()) {
    names.emplace_back(op.name);
    for (const auto& alias : op.aliases) names.emplace_back(alias);
  }
  const std::string near = closest_name(name, names);
  return near.empty() ? "" : " (did you mean '" + near + "'?)";
}

TensorSpec spec_of(const Tensor& t) { return {t.dtype(), t.shape()}; }

bool spec_matches(const TensorSpec& inferred, const TensorSpec& actual) {
  if (inferred.dtype != actual.dtype || inferred.shape.size() != actual.shape.size()) return false;
  for (std::size_t i = 0; i < inferred.shape.size(); ++i)
    if (inferred.shape[i] != -1 && inferred.shape[i] != actual.shape[i]) return false;
  return true;
}

void check_tensor_bytes(double bytes, const std::string& what) {
  if (bytes > kMaxTensorBytes)
    throw std::invalid_argument(what + " would take " + size_text(bytes) + "; a tensor may take at most " +
                                std::to_string(static_cast<int>(kMaxTensorBytes / (1 << 20))) + " MiB");
}

void check_params(const OpDef& op, const Params& params) {
  if (params.is_null()) return;
  if (!params.is_object()) throw OpError(op.name, "params must be a JSON object");
  for (auto it = params.begin(); it != params.end(); ++it) {
    const std::string& name = it.key();  // not a structured binding: C++17 lambdas cannot capture those
    const auto spec = std::find_if(op.params.begin(), op.params.end(), [&](const ParamSpec& p) { return p.name == name; });
    if (spec == op.params.end())
      throw OpError(op.name, "unknown param '" + name + "' (accepted: " + accepted_names(op) + ")");
    if (it->is_null()) continue;
    try {
      ops::check_param_value(*spec, *it);
    } catch (const std::invalid_argument& e) {
      throw OpError(op.name, e.what());
    }
  }
}

TensorSpec infer_op(const OpDef& op, const std::vector<TensorSpec>& inputs, const Params& params) {
  const int n = static_cast<int>(inputs.size());
  if (n < op.min_inputs || (op.max_inputs >= 0 && n > op.max_inputs))
    throw OpError(op.name, "expects " + arity_text(op) + " input(s), got " + std::to_string(n));
  check_params(op, params);
  static const Params empty = Params::object();
  try {
    const TensorSpec out = op.infer(inputs, params.is_null() ? empty : params);
    // Unknown (-1) dimensions count as 1: what is known already may be too much.
    check_tensor_bytes(spec_bytes(out), "its " + std::string(dtype_name(out.dtype)) + " output of shape " + shape_string(out.shape));
    return out;
  } catch (const OpError&) {
    throw;
  } catch (const std::exception& e) {
    throw OpError(op.name, e.what());
  }
}

Cost estimate_cost(const OpDef& op, const std::vector<TensorSpec>& inputs, const TensorSpec& output,
                   const Params& params) {
  static const Params empty = Params::object();
  const Params& p = params.is_null() ? empty : params;
  return op.cost ? op.cost(inputs, output, p) : ops::elementwise_cost(inputs, output, p);
}

Tensor run_op(const OpDef& op, const std::vector<const Tensor*>& inputs, const Params& params) {
  std::vector<TensorSpec> specs;
  specs.reserve(inputs.size());
  for (const Tensor* t : inputs) specs.push_back(spec_of(*t));
  TensorSpec expected = infer_op(op, specs, params);
  static const Params empty = Params::object();
  Tensor out;
  try {
    out = op.kernel(inputs, params.is_null() ? empty : params);
  } catch (const OpError&) {
    throw;
  } catch (const std::exception& e) {
    throw OpError(op.name, e.what());
  }
  if (!spec_matches(expected, spec_of(out)))
    throw OpError(op.name, "kernel produced " + std::string(dtype_name(out.dtype())) + shape_string(out.shape()) +
                               ", inference said " + std::string(dtype_name(expected.dtype)) +
                               shape_string(expected.shape));
  return out;
}

}  // namespace corvid
