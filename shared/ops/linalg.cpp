#include "families.hpp"

namespace corvid::ops {

std::vector<OpDef> linalg_rows() { return {}; }

}  // namespace corvid::ops
