// The driver of a fuzz target built without libFuzzer (any compiler but clang): runs
// LLVMFuzzerTestOneInput over every file of the seed corpus, then over a fixed series of
// pseudo-random inputs, so that the build exercises the targets deterministically.
//
//   fuzz_<target> <corpus dir> [pseudo-random inputs, default 10000]
//
// A broken invariant aborts inside the target; the driver's SIGABRT handler then names
// the corpus file or the number of the pseudo-random input it was running.
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

char g_current[512] = "no input yet";

extern "C" void name_the_input(int) {
  const char prefix[] = "fuzz replay: aborted on ";
  (void)!write(STDERR_FILENO, prefix, sizeof(prefix) - 1);
  (void)!write(STDERR_FILENO, g_current, std::strlen(g_current));
  (void)!write(STDERR_FILENO, "\n", 1);
  std::signal(SIGABRT, SIG_DFL);
  std::raise(SIGABRT);
}

/// SplitMix64: a fixed, portable sequence.
std::uint64_t next_random(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: %s <corpus dir> [pseudo-random inputs]\n", argv[0]);
    return 2;
  }
  const std::filesystem::path corpus = argv[1];
  const unsigned long random_inputs = argc == 3 ? std::strtoul(argv[2], nullptr, 10) : 10000;

  std::signal(SIGABRT, name_the_input);
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(corpus, ec)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  if (ec) {
    std::fprintf(stderr, "cannot read the corpus %s: %s\n", corpus.c_str(), ec.message().c_str());
    return 2;
  }
  if (files.empty()) {
    std::fprintf(stderr, "the corpus %s is empty\n", corpus.c_str());
    return 2;
  }
  std::sort(files.begin(), files.end());  // the same order on every machine

  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::snprintf(g_current, sizeof(g_current), "corpus file %s", file.c_str());
    (void)LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  }

  // Mostly short inputs, now and then a long one; each a pure function of its number.
  std::uint64_t state = 0x5eed;
  std::vector<std::uint8_t> input;
  for (unsigned long i = 0; i < random_inputs; ++i) {
    const std::uint64_t r = next_random(state);
    const std::size_t size =
        (r & 15) == 0 ? static_cast<std::size_t>(r >> 8) % 4096 : static_cast<std::size_t>(r >> 8) % 128;
    input.resize(size);
    for (std::size_t b = 0; b < size; b += 8) {
      const std::uint64_t word = next_random(state);
      for (std::size_t k = 0; k < 8 && b + k < size; ++k) input[b + k] = static_cast<std::uint8_t>(word >> (8 * k));
    }
    std::snprintf(g_current, sizeof(g_current), "pseudo-random input %lu (%zu bytes)", i, size);
    (void)LLVMFuzzerTestOneInput(input.data(), input.size());
    if (i % 5000 == 4999) std::fprintf(stderr, "pseudo-random input %lu done\n", i + 1);
  }
  std::printf("ran %zu corpus files and %lu pseudo-random inputs\n", files.size(), random_inputs);
  return 0;
}
