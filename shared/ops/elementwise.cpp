#include "families.hpp"

namespace corvid::ops {

std::vector<OpDef> elementwise_rows() { return {}; }

}  // namespace corvid::ops
