// Scheduling policy, pure and clock-free: the speed model of a worker, op-group formation from
// a graph's ready frontier, and the choice of worker by earliest estimated finish time.
#pragma once
