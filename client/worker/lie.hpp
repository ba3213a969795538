// For tests and benchmarks only: `corvid-worker --lie P --lie-mode M` returns wrong values of the
// right dtype and shape with probability P per result, so result verification (the server's
// `--verify replicate`) can be tested against a liar. Never use it on a real fleet.
#pragma once

#include <random>
#include <string>

#include "shared/wire.hpp"

namespace corvid {

enum class LieMode { zeros, perturb, sign };
// "zeros", "perturb" or "sign"; false for anything else.
bool parse_lie_mode(const std::string& name, LieMode& mode);

// Makes every tensor of a `result` frame wrong: zeros (every value 0 or false), perturb (+1, or
// bool flipped) or sign (negated, or bool flipped). Other frames are left alone.
void falsify_result(Frame& reply, LieMode mode);

// Decides per result whether to lie, with probability `p`, once `honest_first` results were
// honest (a liar that earns trust first).
class Liar {
 public:
  Liar(double p, LieMode mode, int honest_first = 0)
      : p_(p), mode_(mode), honest_left_(honest_first), rng_(std::random_device{}()) {}
  // Falsifies `reply` with probability p; true if it did.
  bool maybe_lie(Frame& reply);

 private:
  double p_;
  LieMode mode_;
  int honest_left_;
  std::mt19937_64 rng_;
};

}  // namespace corvid
