#include "families.hpp"

namespace corvid::ops {

std::vector<OpDef> source_rows() { return {}; }

}  // namespace corvid::ops
