// The 8x8 digit images the train, hyperparameter_search and inference examples learn from
// (examples/data/digits.csv, made by examples/data/make_digits.py).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "shared/tensor.hpp"

namespace corvid::examples {

// Labelled images with pixels scaled to 0..1. Plain value type.
struct Digits {
  static constexpr int64_t kFeatures = 64;
  static constexpr int64_t kClasses = 10;

  std::vector<float> pixels;     // size() x kFeatures, row-major
  std::vector<int32_t> labels;   // 0..9

  std::size_t size() const { return labels.size(); }
  // The rows at `index`, in that order.
  Digits rows(const std::vector<std::size_t>& index) const;
  // Rows [begin, end).
  Digits range(std::size_t begin, std::size_t end) const;
  Tensor images() const;       // (n, 64) float32
  Tensor label_tensor() const; // (n,) int32
};

// Reads "label,p0,...,p63" lines (pixels 0..16). Throws std::runtime_error naming the file and
// line of anything malformed.
Digits load_digits(const std::string& path);

// A fixed shuffle (from `seed`) of `data`, cut into the first `train_count` rows and the rest.
std::pair<Digits, Digits> split_digits(const Digits& data, std::size_t train_count, uint64_t seed);

// Default location of digits.csv (the examples/data directory of the source tree).
std::string default_digits_path();

}  // namespace corvid::examples
