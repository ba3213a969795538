// The op table: one row per op with its name, aliases, arity, family, validation and
// shape/dtype inference, cost estimate and kernel. Built natively and to WebAssembly.
#pragma once

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "../tensor.hpp"

namespace corvid {

using Params = nlohmann::json;

// What inference knows about a value before it is computed. A dimension of -1 means
// "depends on the data" (unique, find_indices); dtype is always known.
struct TensorSpec {
  DType dtype = DType::f32;
  Shape shape;
  bool operator==(const TensorSpec& o) const { return dtype == o.dtype && shape == o.shape; }
};

// Bytes of a value of this spec; an unknown (-1) dimension counts as 1. A double, so that
// a shape too large to hold is measured rather than overflowing.
double spec_bytes(const TensorSpec& spec);

enum class OpFamily { source, unary, binary, ternary, reduce, linalg, movement, activation, nn, optim };
std::string_view family_name(OpFamily family);

// Estimated work of one op, for the scheduler's cost model.
struct Cost {
  double flops = 0;  // arithmetic operations
  double bytes = 0;  // bytes read plus bytes written
};

// An op rejected its inputs or params; what() is "<op>: <reason>".
class OpError : public std::runtime_error {
 public:
  OpError(std::string_view op, const std::string& reason)
      : std::runtime_error(std::string(op) + ": " + reason), reason_(reason) {}
  const std::string& reason() const { return reason_; }
 private:
  std::string reason_;
};

// The kind of value a param takes. infer_op refuses any other value before the op's own
// inference runs, so every front end and every worker refuses it the same way.
enum class ParamType {
  integer,         // a JSON integer that fits in int64 (1.0 is a float, not an integer)
  int_list,        // a list of integers, or one integer standing for a list of one
  boolean,         // true or false
  number,          // any JSON number
  number_list,     // a list of numbers, or one number standing for a list of one
  number_or_bool,  // a number; true and false count as 1 and 0
  dtype,           // "float32", "float64", "int32" or "bool"
  tensor_value,    // a number, a boolean or a nested list of them (checked in full by the op)
};
// The name README's op table gives a type: int, int_list, bool, number, ...
std::string_view param_type_name(ParamType type);

// One param an op reads. `meaning` replaces the type's own wording in errors when the op gives
// the type a narrower sense (argmax's axis: "an integer or null (the flattened index)").
struct ParamSpec {
  constexpr ParamSpec(std::string_view name, ParamType type, std::string_view meaning = {})
      : name(name), type(type), meaning(meaning) {}
  std::string_view name;
  ParamType type;
  std::string_view meaning;
};

// Row of the op table. infer validates params and input specs and returns the output spec,
// throwing std::invalid_argument (or OpError) with a reason; kernel computes the output from
// inputs that infer accepted. Functions are plain pointers so the table is a constant. `params`
// lists every param infer and kernel read: infer_op refuses any other name, and any value of
// the wrong type, before infer runs. A null value means the param is absent.
struct OpDef {
  std::string_view name;
  std::vector<std::string_view> aliases;
  int min_inputs = 1;
  int max_inputs = 1;  // -1: any number
  OpFamily family = OpFamily::unary;
  TensorSpec (*infer)(const std::vector<TensorSpec>& inputs, const Params& params) = nullptr;
  Cost (*cost)(const std::vector<TensorSpec>& inputs, const TensorSpec& output, const Params& params) = nullptr;
  Tensor (*kernel)(const std::vector<const Tensor*>& inputs, const Params& params) = nullptr;
  std::vector<ParamSpec> params;
};

// Every op, in a stable order. Names and aliases are unique across the table.
const std::vector<OpDef>& op_table();
// The op with this name or alias, or nullptr.
const OpDef* find_op(std::string_view name_or_alias);
// The candidate nearest to `name` by edit distance when it is near enough to be a typo (at most
// one edit per three characters, and at least one), else "". For "did you mean" hints.
std::string closest_name(std::string_view name, const std::vector<std::string>& candidates);
// " (did you mean 'add'?)" for a name close to an op's name or alias, else "".
std::string op_name_hint(std::string_view name);

// The largest output an op may have, on every build: a browser worker's wasm32 memory (2 GiB)
// must hold it together with its inputs, and a volunteer's device must not be made to swap.
inline constexpr double kMaxTensorBytes = 512.0 * (1 << 20);

// Throws std::invalid_argument "<what> would take <size>; a tensor may take at most 512 MiB"
// when `bytes` exceeds kMaxTensorBytes. For outputs whose size only the kernel knows (bincount's
// bins), kernels call it before allocating.
void check_tensor_bytes(double bytes, const std::string& what);

// Throws OpError naming the op when `params` is neither null nor an object, names a param the
// op does not declare (the error lists the accepted names), or gives a declared param a value
// of the wrong type or an integer outside int64.
void check_params(const OpDef& op, const Params& params);

// Checks arity and params (check_params) and infers the output; throws OpError naming the op and
// the reason, also when the output would take more than kMaxTensorBytes. `params` may be null
// (treated as {}).
TensorSpec infer_op(const OpDef& op, const std::vector<TensorSpec>& inputs, const Params& params);
// Estimated cost; for an unknown (-1) dimension it assumes the input's size.
Cost estimate_cost(const OpDef& op, const std::vector<TensorSpec>& inputs, const TensorSpec& output,
                   const Params& params);
// Validates as infer_op does, runs the kernel, and checks that the output matches the inferred
// spec; throws OpError naming the op and the reason (e.g. "inv: matrix is singular").
Tensor run_op(const OpDef& op, const std::vector<const Tensor*>& inputs, const Params& params);

// True when `actual` fits `inferred` (same dtype and rank, equal dims where inferred is not -1).
bool spec_matches(const TensorSpec& inferred, const TensorSpec& actual);

TensorSpec spec_of(const Tensor& t);

}  // namespace corvid
