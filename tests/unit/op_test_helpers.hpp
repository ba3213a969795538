// Helpers shared by the op unit tests (test_ops_*.cpp): run or infer an op by name through the op
// table, read a tensor's values, build test tensors.
#pragma once

#include <doctest/doctest.h>

#include <numeric>
#include <vector>

#include "shared/ops/op.hpp"

namespace corvid::op_tests {

// The op `name`'s result on `inputs`; fails the test when the op is not in the table.
inline Tensor run(const char* name, const std::vector<Tensor>& inputs, const Params& params = Params::object()) {
  const OpDef* op = find_op(name);
  REQUIRE(op != nullptr);
  std::vector<const Tensor*> ptrs;
  for (const auto& t : inputs) ptrs.push_back(&t);
  return run_op(*op, ptrs, params);
}

// The op `name`'s inferred output spec; fails the test when the op is not in the table.
inline TensorSpec infer(const char* name, const std::vector<TensorSpec>& inputs,
                        const Params& params = Params::object()) {
  const OpDef* op = find_op(name);
  REQUIRE(op != nullptr);
  return infer_op(*op, inputs, params);
}

// t's elements in order; T must match t's dtype.
template <class T>
std::vector<T> values(const Tensor& t) {
  return std::vector<T>(t.data<T>(), t.data<T>() + t.size());
}

// 0, 1, 2, ... as float32 with the given shape.
inline Tensor iota_f32(Shape shape) {
  std::vector<float> v(static_cast<std::size_t>(num_elements(shape)));
  std::iota(v.begin(), v.end(), 0.0f);
  return Tensor::from_vector<float>(std::move(shape), v);
}

}  // namespace corvid::op_tests
