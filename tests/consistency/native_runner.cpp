// The native side of the consistency suite (cases written by generate.py, see README.md here):
//   corvid_consistency run DATA          runs every case through one GroupExecutor, checks it
//                                        against NumPy's values, writes DATA/native.replies
//   corvid_consistency coverage DATA     fails if an op of the op table has no value case
//   corvid_consistency cross DATA        compares DATA/native.replies with DATA/wasm.replies (the
//                                        Node runner's): random_* bit for bit, others within the
//                                        agreement tolerance of their op (shared/agreement.hpp)
// A .replies file holds one record per case, in index order: u64 little-endian length, then the
// reply frame (length 0 when the runner could not get a reply).
// Every failure is printed on its own line with the case, its op and what differed.
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "shared/agreement.hpp"
#include "shared/group_executor.hpp"
#include "shared/ops/op.hpp"
#include "shared/wire.hpp"

namespace fs = std::filesystem;
using corvid::Frame;
using corvid::Tensor;
using nlohmann::json;

namespace {

std::vector<uint8_t> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

json read_index(const fs::path& data) {
  const auto bytes = read_file(data / "index.json");
  return json::parse(bytes.begin(), bytes.end());
}

// The frames generate.py wrote (frames.bin), each found by its index entry's {offset, length}.
class FrameFile {
 public:
  explicit FrameFile(const fs::path& data) : bytes_(read_file(data / "frames.bin")) {}
  Frame frame(const json& place) const {
    const uint64_t offset = place.at("offset"), length = place.at("length");
    if (offset > bytes_.size() || length > bytes_.size() - offset)
      throw std::runtime_error("frames.bin is shorter than index.json says");
    return corvid::decode_frame(bytes_.data() + offset, length);
  }

 private:
  std::vector<uint8_t> bytes_;
};

// Appends one record (u64 little-endian length, then the bytes) to a .replies file.
void write_record(std::ofstream& out, const std::vector<uint8_t>& bytes) {
  uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<uint8_t>(static_cast<uint64_t>(bytes.size()) >> (8 * i));
  out.write(reinterpret_cast<const char*>(length), 8);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// The records of a .replies file, in order.
std::vector<std::vector<uint8_t>> read_records(const fs::path& path) {
  const auto bytes = read_file(path);
  std::vector<std::vector<uint8_t>> records;
  std::size_t pos = 0;
  while (pos + 8 <= bytes.size()) {
    uint64_t length = 0;
    for (int i = 0; i < 8; ++i) length |= static_cast<uint64_t>(bytes[pos + i]) << (8 * i);
    pos += 8;
    if (length > bytes.size() - pos) throw std::runtime_error(path.string() + " is truncated");
    records.emplace_back(bytes.begin() + static_cast<std::ptrdiff_t>(pos),
                         bytes.begin() + static_cast<std::ptrdiff_t>(pos + length));
    pos += length;
  }
  if (pos != bytes.size()) throw std::runtime_error(path.string() + " is truncated");
  return records;
}

// Why `actual` is not `expected` within `tolerance` (shared/agreement.hpp: NaN matches NaN,
// infinities must be equal, dtype and shape identical), or "" when it is.
std::string compare(const Tensor& actual, const Tensor& expected, const corvid::Tolerance& tolerance) {
  const corvid::Disagreement d = corvid::compare_values(actual, expected, tolerance);
  if (d.agree()) return "";
  if (!d.shape_problem.empty()) return "got " + d.shape_problem + " expected";
  std::ostringstream out;
  out.precision(9);
  out << d.count << " of " << actual.size() << " values differ; max abs error " << d.difference << " at flat index "
      << d.index << " (got " << d.a << ", expected " << d.b << "; rtol " << tolerance.rtol << ", atol "
      << tolerance.atol << ", scale_rtol " << tolerance.scale_rtol << ")";
  return out.str();
}

// The canonical name of a case's op (cases may use an alias), or the name itself if unknown.
std::string canonical_op(const std::string& name) {
  const corvid::OpDef* op = corvid::find_op(name);
  return op ? std::string(op->name) : name;
}

// Why the reply does not satisfy the case, or "".
std::string check_reply(const json& entry, const Frame& reply, const FrameFile& frames) {
  const std::string kind = entry["kind"], type = reply.header.value("type", "");
  const std::string message = reply.header.value("error", "");
  if (kind == "error") {
    if (type != "error") return "expected an error containing '" + entry["error"].get<std::string>() + "', got a result";
    const std::string prefix = canonical_op(entry["op"]) + ": ";
    if (reply.header.value("kind", "") != "kernel" || reply.header.value("op_id", "") != "out")
      return "error is not a kernel error of op 'out': " + reply.header.dump();
    if (message.rfind(prefix, 0) != 0) return "error does not start with '" + prefix + "': " + message;
    if (message.find(entry["error"].get<std::string>()) == std::string::npos)
      return "error does not contain '" + entry["error"].get<std::string>() + "': " + message;
    return "";
  }
  if (type != "result") return "failed: " + message;
  const Tensor* out = reply.find("out");
  if (!out || reply.tensors.size() != 1) return "reply does not hold exactly the tensor 'out'";
  if (kind == "random") return "";
  const Frame expected = frames.frame(entry["expected"]);
  return compare(*out, *expected.find("expected"), {entry["rtol"].get<double>(), entry["atol"].get<double>(), 0});
}

int report(const char* what, const std::map<std::string, std::pair<int, int>>& per_family, int failures) {
  int total = 0;
  std::string counts;
  for (const auto& [family, c] : per_family) {
    total += c.first;
    counts += " " + family + " " + std::to_string(c.first - c.second) + "/" + std::to_string(c.first);
  }
  std::printf("%s: %d cases, %d failed; passed per family:%s\n", what, total, failures, counts.c_str());
  if (total == 0) std::printf("%s: no cases at all\n", what);
  return failures == 0 && total > 0 ? 0 : 1;
}

int run(const fs::path& data) {
  const json index = read_index(data);
  const FrameFile frames(data);
  std::ofstream replies(data / "native.replies", std::ios::binary);
  corvid::GroupExecutor executor;
  std::map<std::string, std::pair<int, int>> per_family;
  int failures = 0;
  for (const auto& entry : index["cases"]) {
    std::string why;
    std::vector<uint8_t> reply_bytes;
    try {
      const Frame assign = frames.frame(entry["assign"]);
      reply_bytes = corvid::encode_frame(executor.execute(assign));
      why = check_reply(entry, corvid::decode_frame(reply_bytes.data(), reply_bytes.size()), frames);
      // Random sources must be reproducible: the same frame gives the same tensor bytes (the
      // replies' timings may differ).
      if (why.empty() && entry["kind"] == "random") {
        const Frame first = corvid::decode_frame(reply_bytes.data(), reply_bytes.size());
        const Frame again = executor.execute(assign);
        const Tensor& a = first.tensors.at(0).tensor;
        const Tensor& b = again.tensors.at(0).tensor;
        if (a.nbytes() != b.nbytes() || std::memcmp(a.raw(), b.raw(), a.nbytes()) != 0)
          why = "two runs with the same seed differ";
      }
    } catch (const std::exception& e) {
      why = std::string("runner error: ") + e.what();
    }
    write_record(replies, reply_bytes);
    auto& counts = per_family[entry["family"]];
    ++counts.first;
    if (!why.empty()) {
      ++counts.second, ++failures;
      std::printf("FAIL native %s (op %s): %s\n", entry["name"].get<std::string>().c_str(),
                  entry["op"].get<std::string>().c_str(), why.c_str());
    }
  }
  replies.close();
  if (!replies) throw std::runtime_error("cannot write " + (data / "native.replies").string());
  return report("native", per_family, failures);
}

int coverage(const fs::path& data) {
  const json index = read_index(data);
  std::set<std::string> covered;
  int failures = 0;
  for (const auto& entry : index["cases"]) {
    const std::string name = entry["op"];
    if (!corvid::find_op(name)) {
      ++failures;
      std::printf("FAIL case %s names op '%s', which is not in the op table\n",
                  entry["name"].get<std::string>().c_str(), name.c_str());
    } else if (entry["kind"] != "error") {
      covered.insert(canonical_op(name));
    }
  }
  for (const auto& family : index["missing_families"])
    std::printf("note: tests/consistency/cases/%s.py does not exist\n", family.get<std::string>().c_str());
  int ops = 0;
  for (const auto& op : corvid::op_table()) {
    ++ops;
    if (covered.count(std::string(op.name))) continue;
    ++failures;
    std::printf("FAIL op '%s' (family %s) has no case with a value\n", std::string(op.name).c_str(),
                std::string(corvid::family_name(op.family)).c_str());
  }
  std::printf("coverage: %zu of %d ops have value cases\n", covered.size(), ops);
  if (ops == 0) std::printf("coverage: the op table is empty\n");
  return failures == 0 && ops > 0 ? 0 : 1;
}

// Why the wasm reply differs from the native one for this case, or "".
std::string cross_check(const json& entry, const std::vector<uint8_t>& native_bytes,
                        const std::vector<uint8_t>& wasm_bytes) {
  if (native_bytes.empty()) return "no native reply";
  if (wasm_bytes.empty()) return "no wasm reply";
  const Frame native = corvid::decode_frame(native_bytes.data(), native_bytes.size());
  const Frame wasm = corvid::decode_frame(wasm_bytes.data(), wasm_bytes.size());
  const std::string native_type = native.header.value("type", ""), wasm_type = wasm.header.value("type", "");
  if (native_type != wasm_type)
    return "native gave " + native.header.dump() + ", wasm gave " + wasm.header.dump();
  if (native_type == "error") {
    if (native.header["error"] != wasm.header["error"])
      return "errors differ: native '" + native.header.value("error", "") + "', wasm '" +
             wasm.header.value("error", "") + "'";
    return "";
  }
  const Tensor *a = wasm.find("out"), *b = native.find("out");
  if (!a || !b) return "a reply lacks the tensor 'out'";
  if (entry["kind"] == "random") {
    if (a->dtype() != b->dtype() || a->shape() != b->shape() || a->nbytes() != b->nbytes() ||
        std::memcmp(a->raw(), b->raw(), a->nbytes()) != 0)
      return "random values differ between builds (same seed)";
    return "";
  }
  // The builds must agree as verification requires of two honest workers, whatever the case's
  // tolerance against NumPy.
  const corvid::OpDef* op = corvid::find_op(entry["op"].get<std::string>());
  if (!op) return "unknown op";
  return compare(*a, *b, corvid::agreement_tolerance(*op, b->dtype()));
}

int cross(const fs::path& data) {
  const json index = read_index(data);
  const auto native = read_records(data / "native.replies"), wasm = read_records(data / "wasm.replies");
  const std::size_t cases = index["cases"].size();
  if (native.size() != cases || wasm.size() != cases)
    throw std::runtime_error("index.json has " + std::to_string(cases) + " cases, native.replies " +
                             std::to_string(native.size()) + " replies, wasm.replies " + std::to_string(wasm.size()) +
                             ": run the native and wasm runners on this data first");
  std::map<std::string, std::pair<int, int>> per_family;
  int failures = 0;
  for (std::size_t i = 0; i < cases; ++i) {
    const json& entry = index["cases"][i];
    std::string why;
    try {
      why = cross_check(entry, native[i], wasm[i]);
    } catch (const std::exception& e) {
      why = std::string("runner error: ") + e.what();
    }
    auto& counts = per_family[entry["family"]];
    ++counts.first;
    if (!why.empty()) {
      ++counts.second, ++failures;
      std::printf("FAIL native vs wasm %s (op %s): %s\n", entry["name"].get<std::string>().c_str(),
                  entry["op"].get<std::string>().c_str(), why.c_str());
    }
  }
  return report("native vs wasm", per_family, failures);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string usage = "usage: corvid_consistency run|coverage|cross DATA_DIR (written by generate.py)";
  if (argc != 3) {
    std::fprintf(stderr, "%s\n", usage.c_str());
    return 2;
  }
  const std::string command = argv[1];
  const fs::path data = argv[2];
  try {
    if (command == "run") return run(data);
    if (command == "coverage") return coverage(data);
    if (command == "cross") return cross(data);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "corvid_consistency %s: %s\n", command.c_str(), e.what());
    return 1;
  }
  std::fprintf(stderr, "%s\n", usage.c_str());
  return 2;
}
