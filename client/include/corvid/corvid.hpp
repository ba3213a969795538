// libcorvid: everything a developer program needs (#include "corvid/corvid.hpp").
#pragma once

#include "corvid/connection.hpp"
#include "corvid/graph.hpp"
#include "corvid/graph_file.hpp"
#include "corvid/map_job.hpp"
#include "corvid/ops.hpp"
#include "corvid/optim.hpp"
#include "corvid/session.hpp"
