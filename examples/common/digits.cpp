#include "common/digits.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "common/random.hpp"

namespace corvid::examples {

Digits Digits::rows(const std::vector<std::size_t>& index) const {
  Digits out;
  out.pixels.reserve(index.size() * kFeatures);
  out.labels.reserve(index.size());
  for (std::size_t i : index) {
    out.pixels.insert(out.pixels.end(), pixels.begin() + i * kFeatures, pixels.begin() + (i + 1) * kFeatures);
    out.labels.push_back(labels.at(i));
  }
  return out;
}

Digits Digits::range(std::size_t begin, std::size_t end) const {
  std::vector<std::size_t> index;
  for (std::size_t i = begin; i < end; ++i) index.push_back(i);
  return rows(index);
}

Tensor Digits::images() const {
  return Tensor::from_vector<float>({static_cast<int64_t>(size()), kFeatures}, pixels);
}

Tensor Digits::label_tensor() const {
  return Tensor::from_vector<int32_t>({static_cast<int64_t>(size())}, labels);
}

Digits load_digits(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path + " (make it with examples/data/make_digits.py)");
  Digits data;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    std::istringstream fields(line);
    std::string field;
    std::vector<int> values;
    while (std::getline(fields, field, ',')) {
      try {
        values.push_back(std::stoi(field));
      } catch (const std::exception&) {
        throw std::runtime_error(path + ":" + std::to_string(number) + ": '" + field + "' is not an integer");
      }
    }
    if (values.size() != 1 + Digits::kFeatures)
      throw std::runtime_error(path + ":" + std::to_string(number) + ": expected a label and 64 pixels, got " +
                               std::to_string(values.size()) + " fields");
    if (values[0] < 0 || values[0] >= Digits::kClasses)
      throw std::runtime_error(path + ":" + std::to_string(number) + ": label " + std::to_string(values[0]) +
                               " is not a digit");
    data.labels.push_back(values[0]);
    for (int64_t p = 1; p <= Digits::kFeatures; ++p) {
      if (values[p] < 0 || values[p] > 16)
        throw std::runtime_error(path + ":" + std::to_string(number) + ": pixel " + std::to_string(values[p]) +
                                 " is outside 0..16");
      data.pixels.push_back(static_cast<float>(values[p]) / 16.0f);
    }
  }
  if (data.size() == 0) throw std::runtime_error(path + " holds no images");
  return data;
}

std::pair<Digits, Digits> split_digits(const Digits& data, std::size_t train_count, uint64_t seed) {
  if (train_count >= data.size())
    throw std::invalid_argument("split_digits: " + std::to_string(train_count) + " training rows leave none of " +
                                std::to_string(data.size()) + " for testing");
  const std::vector<std::size_t> order = permutation(data.size(), seed);
  const std::vector<std::size_t> train(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(train_count));
  const std::vector<std::size_t> test(order.begin() + static_cast<std::ptrdiff_t>(train_count), order.end());
  return {data.rows(train), data.rows(test)};
}

std::string default_digits_path() { return std::string(CORVID_EXAMPLES_DATA) + "/digits.csv"; }

}  // namespace corvid::examples
