// mapreduce: a word count over examples/data/corpus.txt in two map jobs, MapReduce style.
//
// Workers cannot read strings, so this program turns words into int32 ids first (a dictionary
// in order of first appearance) and cuts the id stream into M chunks. Map phase: M slices, each
// counting its chunk's ids with bincount and laying the counts out as R partitions of K ids each
// (reshape to R x K: partition r holds ids r*K .. r*K+K-1). Reduce phase: R slices, slice r
// taking partition r of every map output and adding them up. The map outputs stay on the server
// and its workers: reduce slices name them as inputs, and only the reduced counts come back.
// The result is checked against a count done here in one process.
//
//   examples/run.sh mapreduce [--maps 30] [--reduces 60] [--corpus FILE]
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <unordered_map>
#include <vector>

#include "corvid/corvid.hpp"

namespace {

// Lower-case runs of letters (and inner apostrophes), in order.
std::vector<std::string> words_of(const std::string& text) {
  std::vector<std::string> words;
  std::string word;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    const char c = i < text.size() ? text[i] : ' ';
    const bool letter = std::isalpha(static_cast<unsigned char>(c)) != 0;
    const bool inner_apostrophe = c == '\'' && !word.empty() && i + 1 < text.size() &&
                                  std::isalpha(static_cast<unsigned char>(text[i + 1]));
    if (letter || inner_apostrophe) {
      word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (!word.empty()) {
      words.push_back(std::move(word));
      word.clear();
    }
  }
  return words;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path + " (make it with examples/data/make_corpus.py)");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mapreduce: word count over a corpus with a map phase and a reduce phase on Corvid workers"};
  std::string corpus = std::string(CORVID_EXAMPLES_DATA) + "/corpus.txt";
  int maps = 30, reduces = 60, top = 10;
  app.add_option("--corpus", corpus, "text file to count words in")->capture_default_str();
  app.add_option("--maps", maps, "map slices (chunks of the text)")->check(CLI::Range(1, 10000))->capture_default_str();
  app.add_option("--reduces", reduces, "reduce slices (partitions of the words)")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  app.add_option("--top", top, "how many of the most frequent words to print")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::cout << std::unitbuf;  // each line as soon as it is printed, also into a pipe
  try {
    // ---- on the developer side: words to ids ----
    const std::vector<std::string> words = words_of(read_file(corpus));
    std::unordered_map<std::string, int32_t> id_of;
    std::vector<std::string> dictionary;
    std::vector<int32_t> ids;
    ids.reserve(words.size());
    for (const auto& w : words) {
      auto [it, added] = id_of.emplace(w, static_cast<int32_t>(dictionary.size()));
      if (added) dictionary.push_back(w);
      ids.push_back(it->second);
    }
    const int64_t vocabulary = static_cast<int64_t>(dictionary.size());
    const int64_t per_partition = std::max<int64_t>(1, (vocabulary + reduces - 1) / reduces);
    std::cout << corpus << ": " << words.size() << " words, " << vocabulary << " distinct; " << maps << " map and "
              << reduces << " reduce slices, " << per_partition << " word ids per partition\n";

    corvid::Graph graph{"mapreduce"};

    // ---- map: count each chunk's ids, partitioned R x K ----
    std::vector<corvid::Value> map_outputs;
    corvid::MapJob map_job(graph, [&](const std::vector<corvid::Value>& in, std::size_t) {
      auto counts = corvid::bincount(in[0], reduces * per_partition);
      map_outputs.push_back(corvid::reshape(counts, {reduces, per_partition}));
      return map_outputs.back();
    });
    for (int m = 0; m < maps; ++m) {
      const std::size_t begin = ids.size() * static_cast<std::size_t>(m) / static_cast<std::size_t>(maps);
      const std::size_t end = ids.size() * static_cast<std::size_t>(m + 1) / static_cast<std::size_t>(maps);
      std::vector<int32_t> chunk(ids.begin() + static_cast<std::ptrdiff_t>(begin),
                                 ids.begin() + static_cast<std::ptrdiff_t>(end));
      map_job.add_slice({corvid::Tensor::from_vector<int32_t>({static_cast<int64_t>(chunk.size())}, chunk)});
    }
    corvid::MapEvents map_events;
    map_events.on_posted = [&](std::size_t n, uint64_t graph_id) {
      std::cout << "map: " << n << " slices posted (graph " << graph_id << ")\n";
    };
    std::size_t maps_done = 0;
    map_events.on_result = [&](std::size_t slice, const corvid::Tensor& counts) {
      int64_t counted = 0;
      for (int64_t i = 0; i < counts.size(); ++i) counted += static_cast<int64_t>(counts.at_as_double(i));
      std::cout << "map: slice " << std::setw(3) << slice << " counted " << std::setw(6) << counted << " words  ("
                << ++maps_done << "/" << maps << ")\n";
    };
    map_events.on_error = [](std::size_t slice, const std::string& error) {
      std::cout << "map: slice " << slice << " failed: " << error << "\n";
    };
    const corvid::MapOutcome mapped = map_job.run(map_events);
    if (!mapped.ok()) throw std::runtime_error(std::to_string(mapped.failed.size()) + " map slice(s) failed");

    // ---- reduce: partition r of every map output, added up ----
    corvid::MapJob reduce_job(graph, [&](const std::vector<corvid::Value>&, std::size_t r) {
      std::vector<corvid::Value> parts;
      for (const auto& m : map_outputs)
        parts.push_back(corvid::slice(m, {static_cast<int64_t>(r), 0}, {1, per_partition}));
      return corvid::sum(corvid::concat(parts, 0), 0);
    });
    for (int r = 0; r < reduces; ++r) reduce_job.add_slice({});
    std::vector<int64_t> counts(static_cast<std::size_t>(reduces * per_partition), 0);
    std::size_t reduces_done = 0;
    corvid::MapEvents reduce_events;
    reduce_events.on_posted = [&](std::size_t n, uint64_t) { std::cout << "reduce: " << n << " slices posted\n"; };
    reduce_events.on_result = [&](std::size_t r, const corvid::Tensor& partition) {
      for (int64_t i = 0; i < partition.size(); ++i)
        counts[r * static_cast<std::size_t>(per_partition) + static_cast<std::size_t>(i)] =
            static_cast<int64_t>(partition.at_as_double(i));
      ++reduces_done;
      if (reduces_done % 10 == 0 || reduces_done == static_cast<std::size_t>(reduces))
        std::cout << "reduce: " << reduces_done << "/" << reduces << " partitions counted\n";
    };
    reduce_events.on_error = [](std::size_t slice, const std::string& error) {
      std::cout << "reduce: slice " << slice << " failed: " << error << "\n";
    };
    const corvid::MapOutcome reduced = reduce_job.run(reduce_events);
    if (!reduced.ok()) throw std::runtime_error(std::to_string(reduced.failed.size()) + " reduce slice(s) failed");
    std::cout << graph.end() << "\n";

    // ---- the same count in one process, and the comparison ----
    std::unordered_map<std::string, int64_t> expected;
    for (const auto& w : words) ++expected[w];
    std::size_t wrong = 0;
    for (int64_t id = 0; id < vocabulary; ++id) {
      const int64_t want = expected[dictionary[static_cast<std::size_t>(id)]];
      if (counts[static_cast<std::size_t>(id)] != want) {
        if (wrong < 5)
          std::cout << "MISMATCH '" << dictionary[static_cast<std::size_t>(id)] << "': " << counts[static_cast<std::size_t>(id)]
                    << " (single process: " << want << ")\n";
        ++wrong;
      }
    }
    std::vector<int64_t> order(static_cast<std::size_t>(vocabulary));
    for (int64_t i = 0; i < vocabulary; ++i) order[static_cast<std::size_t>(i)] = i;
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return counts[static_cast<std::size_t>(a)] > counts[static_cast<std::size_t>(b)];
    });
    std::cout << "most frequent words:\n";
    for (int64_t i = 0; i < std::min<int64_t>(top, vocabulary); ++i) {
      const auto id = static_cast<std::size_t>(order[static_cast<std::size_t>(i)]);
      std::cout << "  " << std::setw(14) << std::left << dictionary[id] << std::right << std::setw(7) << counts[id]
                << "\n";
    }
    if (wrong) {
      std::cout << wrong << " of " << vocabulary << " words counted differently than in one process\n";
      return 1;
    }
    std::cout << "all " << vocabulary << " word counts match the single-process count\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "mapreduce: " << e.what() << "\n";
    return 1;
  }
}
