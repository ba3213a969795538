// Rows of the op table, one function per family file (see op_table.cpp for the assembly), and
// helpers the family files share: dtype promotion, broadcasting, axis params, generic costs.
#pragma once

#include <optional>

#include "op.hpp"

namespace corvid::ops {

std::vector<OpDef> source_rows();       // source.cpp: tensor, zeros, ones, random_*
std::vector<OpDef> elementwise_rows();  // elementwise.cpp: unary, binary, where, clip, cast, softmax
std::vector<OpDef> reduce_rows();       // reduce.cpp: sum ... average
std::vector<OpDef> linalg_rows();       // linalg.cpp: matmul, dot, transpose, inv
std::vector<OpDef> movement_rows();     // movement.cpp: reshape ... set_value
std::vector<OpDef> nn_rows();           // nn.cpp: conv2d, pooling, cross_entropy and their gradients' helpers
std::vector<OpDef> optim_rows();        // optim.cpp: sgd_momentum, sgd_update, adam_m, adam_v, adam_update

// ---- dtype promotion (documented in README "Dtype promotion") ----
// Kind order bool < int32 < float; the result has the highest kind among the operands, and
// among floats the widest float operand. Python-style scalars do not exist here: every operand
// is a tensor with a dtype.
DType promote(DType a, DType b);
// Dtype of float-valued functions (exp, div, mean, ...): floats keep theirs, others -> float32.
DType float_result(DType a);

// ---- shapes ----
// NumPy broadcasting of two shapes; throws std::invalid_argument naming both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b);
// Normalises a possibly negative axis for rank `ndim`; throws std::invalid_argument if out of range.
int64_t normalize_axis(int64_t axis, int64_t ndim);
// The "axis" param of reductions: absent or null -> all axes; int or list of ints -> sorted,
// normalised, unique axes. Throws std::invalid_argument for a bad value.
std::vector<int64_t> reduction_axes(const Params& params, int64_t ndim);

// ---- params ----
// Readers of one param, the only place params are converted: `fallback` when the param is absent
// or null; otherwise the value, or std::invalid_argument "param 'name' must be ..., got ...".
// Integers are read strictly: a JSON float (even 1.0) is not one, and an unsigned number above
// 2^63 - 1 is refused ("param 'axis' is out of range") instead of wrapping to a negative.
int64_t int_param(const Params& params, const char* name, int64_t fallback);
int64_t required_int_param(const Params& params, const char* name);
double number_param(const Params& params, const char* name, double fallback);
bool bool_param(const Params& params, const char* name, bool fallback);
// A required list of integers (a single integer is accepted as a list of one).
std::vector<int64_t> int_list_param(const Params& params, const char* name);
// A required list of numbers (a single number is accepted as a list of one).
std::vector<double> number_list_param(const Params& params, const char* name);
// The "dtype" param, or nullopt when absent.
std::optional<DType> dtype_param(const Params& params);
bool has_param(const Params& params, const char* name);
// Throws std::invalid_argument naming the param when `value` (not null) is not of spec.type,
// with the same reading as the readers above.
void check_param_value(const ParamSpec& spec, const Params& value);

// ---- costs ----
// flops = elements of output, bytes = all inputs + output.
Cost elementwise_cost(const std::vector<TensorSpec>& inputs, const TensorSpec& output, const Params& params);
int64_t spec_elements(const TensorSpec& spec);  // -1 dims count as 1

}  // namespace corvid::ops
