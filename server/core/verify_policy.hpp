// How results of untrusted workers are verified (docs/design.md, "Threat model"), as the
// operator's `--verify` and a graph's `verify` name it. Shared by the coordinator's options and
// the graph model, so it depends on nothing.
#pragma once

#include <string>

namespace corvid::server {

// Ordered from loosest to strictest: `off` takes one worker's result; `adaptive` replicates every
// group of an untrusted worker and a falling share of a trusted one's (TrustTable); `replicate`
// takes a group's result only once two results from distinct workers agree, or the server's own
// kernel settles it (verification.hpp).
enum class VerifyPolicy { off, adaptive, replicate };

// The stricter of two policies: a graph may tighten the server's policy, never loosen it.
inline VerifyPolicy stricter(VerifyPolicy a, VerifyPolicy b) { return a < b ? b : a; }

inline const char* verify_policy_name(VerifyPolicy policy) {
  return policy == VerifyPolicy::replicate ? "replicate" : policy == VerifyPolicy::adaptive ? "adaptive" : "off";
}

// "off", "adaptive" or "replicate"; false (policy untouched) for anything else.
inline bool parse_verify_policy(const std::string& name, VerifyPolicy& policy) {
  if (name == "off") policy = VerifyPolicy::off;
  else if (name == "adaptive") policy = VerifyPolicy::adaptive;
  else if (name == "replicate") policy = VerifyPolicy::replicate;
  else return false;
  return true;
}

}  // namespace corvid::server
