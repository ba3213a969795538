#include "families.hpp"

namespace corvid::ops {

std::vector<OpDef> reduce_rows() { return {}; }

}  // namespace corvid::ops
