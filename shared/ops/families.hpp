// Rows of the op table, one function per family file (see op_table.cpp for the assembly), and
// helpers the family files share: dtype promotion, broadcasting, axis params, generic costs.
#pragma once

#include "op.hpp"

namespace corvid::ops {

std::vector<OpDef> source_rows();       // source.cpp: tensor, zeros, ones, random_*
std::vector<OpDef> elementwise_rows();  // elementwise.cpp: unary, binary, where, clip, softmax
std::vector<OpDef> reduce_rows();       // reduce.cpp: sum ... average
std::vector<OpDef> linalg_rows();       // linalg.cpp: matmul, dot, transpose, inv
std::vector<OpDef> movement_rows();     // movement.cpp: reshape ... set_value

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
// Reads an integer param; throws std::invalid_argument "param 'name' must be an integer".
int64_t int_param(const Params& params, const char* name, int64_t fallback);
int64_t required_int_param(const Params& params, const char* name);
double number_param(const Params& params, const char* name, double fallback);
bool bool_param(const Params& params, const char* name, bool fallback);
// A list of integers (a single integer is accepted as a list of one).
std::vector<int64_t> int_list_param(const Params& params, const char* name);
bool has_param(const Params& params, const char* name);

// ---- costs ----
// flops = elements of output, bytes = all inputs + output.
Cost elementwise_cost(const std::vector<TensorSpec>& inputs, const TensorSpec& output, const Params& params);
int64_t spec_elements(const TensorSpec& spec);  // -1 dims count as 1
double spec_bytes(const TensorSpec& spec);

}  // namespace corvid::ops
