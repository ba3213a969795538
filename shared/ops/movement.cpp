#include "families.hpp"

namespace corvid::ops {

std::vector<OpDef> movement_rows() { return {}; }

}  // namespace corvid::ops
