#include "server/core/scheduler.hpp"
