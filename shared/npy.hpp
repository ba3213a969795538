// NumPy's .npy format (version 1.0) for one tensor: what `np.load` reads. Written by the CLI
// (`corvid result --npy`) and served by GET /api/graphs/<id>/values/<op id>.
#pragma once

#include <string>

#include "tensor.hpp"

namespace corvid {

// The .npy bytes of `t`: the magic, a header naming its dtype ("<f4", "<f8", "<i4", "|b1") and
// shape in C order, padded so the data starts at a multiple of 64, then the data (little-endian).
std::string encode_npy(const Tensor& t);

}  // namespace corvid
