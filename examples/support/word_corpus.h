// The word count examples' corpus: the Word message (a short string stored inline), a
// vocabulary of made-up words, and a deterministic Zipf-like text drawn over it
// (word_count.cc and cluster_word_count.cc).
//
// Everything here is a pure function of its arguments (a seed, a size): the same text on
// every run and every machine, so a program can regenerate the text another thread or
// another process sent, and check its counts exactly.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sn/partitioners/key.h"

namespace sn::examples {

/// One word, stored inline: 16 bytes, trivially copyable, so a message costs a 16-byte
/// copy through the queues and never allocates (a std::string would work too, but it
/// allocates once a word outgrows its small-string buffer, and is 32 bytes).
struct Word {
  static constexpr std::size_t kMaxSize = 15;

  std::array<char, kMaxSize> chars{};  // zero-padded, so the defaulted == is exact
  std::uint8_t size = 0;

  static Word of(std::string_view text) {  // longer text is cut (our words have at most 6 letters)
    Word w;
    w.size = static_cast<std::uint8_t>(std::min(text.size(), kMaxSize));
    std::copy_n(text.data(), w.size, w.chars.data());
    return w;
  }
  std::string_view view() const noexcept { return {chars.data(), size}; }
  std::string str() const { return std::string(view()); }

  friend bool operator==(const Word&, const Word&) = default;
  template <class H>
  friend H AbslHashValue(H h, const Word& w) {  // lets absl::flat_hash_map hash a Word
    return H::combine(std::move(h), w.view());
  }
};
static_assert(sizeof(Word) == 16);

/// `size` pronounceable made-up words: word i is i written in bijective base 64 with
/// syllables for digits ("ba", "be", ..., "zo"), so every word is distinct, and the
/// frequent words (small i) are the short ones, as in real text.
inline std::vector<Word> make_vocabulary(std::size_t size) {
  static constexpr std::string_view kConsonants = "bdfgklmnprstvwyz";  // 16
  static constexpr std::string_view kVowels = "aeio";                  // 16 x 4 = 64 syllables
  std::vector<Word> vocabulary;
  vocabulary.reserve(size);
  for (std::size_t i = 0; i < size; ++i) {
    std::string text;
    for (std::size_t n = i + 1; n > 0; n = (n - 1) / 64) {
      const std::size_t digit = (n - 1) % 64;
      text += kConsonants[digit / 4];
      text += kVowels[digit % 4];
    }
    vocabulary.push_back(Word::of(text));
  }
  return vocabulary;
}

/// The corpus: a stream of word ranks (indices into the vocabulary), cut into blocks of
/// 64 Ki words. Block b is drawn from its own generator, seeded from (seed, b), so the
/// text is the same however many producers share it out, and it is generated where it is
/// sent instead of being stored whole (30 M words would take 60-120 MB).
///
/// Rank r (0-based) is drawn with probability ln((r + 2) / (r + 1)) / ln(V + 1), close to
/// Zipf's law 1/(r + 1): the top word is about 6% of the text, the rarest tens of
/// thousands of times less common.
class Corpus {
 public:
  static constexpr std::uint64_t kBlock = 65'536;

  Corpus(std::uint64_t words, std::size_t vocabulary, std::uint64_t seed)
      : words_(words), vocabulary_(vocabulary), seed_(seed), log_v1_(std::log(static_cast<double>(vocabulary) + 1.0)) {}

  std::uint64_t words() const noexcept { return words_; }
  std::uint64_t blocks() const noexcept { return (words_ + kBlock - 1) / kBlock; }

  /// Calls fn(rank) for each word of block b, in order.
  template <class Fn>
  void for_each_in_block(std::uint64_t b, Fn&& fn) const {
    std::mt19937_64 rng(sn::stable_hash(seed_ ^ b));  // mt19937_64 is the same stream everywhere
    const std::uint64_t end = std::min(words_, (b + 1) * kBlock);
    for (std::uint64_t i = b * kBlock; i < end; ++i) {
      const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;  // uniform in [0, 1)
      const auto rank = static_cast<std::size_t>(std::exp(u * log_v1_)) - 1;
      fn(std::min(rank, vocabulary_ - 1));
    }
  }

 private:
  std::uint64_t words_;
  std::size_t vocabulary_;
  std::uint64_t seed_;
  double log_v1_;
};

}  // namespace sn::examples
