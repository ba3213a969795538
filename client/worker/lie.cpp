#include "lie.hpp"

#include <limits>
#include <type_traits>

#include "shared/protocol.hpp"

namespace corvid {

bool parse_lie_mode(const std::string& name, LieMode& mode) {
  if (name == "zeros") mode = LieMode::zeros;
  else if (name == "perturb") mode = LieMode::perturb;
  else if (name == "sign") mode = LieMode::sign;
  else return false;
  return true;
}

namespace {

template <class T>
T lie_about(T v, LieMode mode) {
  if constexpr (std::is_same_v<T, uint8_t>) {  // bool
    return mode == LieMode::zeros ? 0 : v ? 0 : 1;
  } else if constexpr (std::is_integral_v<T>) {
    if (mode == LieMode::zeros) return 0;
    if (mode == LieMode::sign) return v == std::numeric_limits<T>::min() ? v + 1 : -v;
    return v == std::numeric_limits<T>::max() ? v - 1 : v + 1;
  } else {
    return mode == LieMode::zeros ? T(0) : mode == LieMode::sign ? -v : v + 1;
  }
}

}  // namespace

void falsify_result(Frame& reply, LieMode mode) {
  if (protocol::type_of(reply) != protocol::Result::kType) return;
  for (auto& nt : reply.tensors) {
    Tensor& t = nt.tensor;
    visit_dtype(t.dtype(), [&](auto zero) {
      using T = decltype(zero);
      T* values = t.data<T>();
      for (int64_t i = 0; i < t.size(); ++i) values[i] = lie_about(values[i], mode);
    });
  }
}

bool Liar::maybe_lie(Frame& reply) {
  if (p_ <= 0 || protocol::type_of(reply) != protocol::Result::kType) return false;
  if (honest_left_ > 0) {
    --honest_left_;
    return false;
  }
  if (p_ < 1 && std::uniform_real_distribution<double>(0, 1)(rng_) >= p_) return false;
  falsify_result(reply, mode_);
  return true;
}

}  // namespace corvid
