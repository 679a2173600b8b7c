// How the examples read their command line: Abseil's flags, each example defining its own
// with ABSL_FLAG in its .cc file, and parse_flags() below doing the rest the same way in
// every example:
//   --help      prints what the program does and the example's own flags with their
//               defaults (--helpfull adds Abseil's built-in flags);
//   errors      an unknown flag or a malformed value ends the program with Abseil's
//               "ERROR: ..." message and status 1; a positional argument, or a value
//               out of its range (read_flag), is refused with status 2 (kUsageError).
#pragma once

#include <cstdio>
#include <source_location>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace sn::examples {

/// The exit status for a command line an example refuses after Abseil has parsed it.
inline constexpr int kUsageError = 2;

/// "dir/word_count.cc" -> "word_count.cc".
inline absl::string_view file_name_only(absl::string_view path) {
  const std::size_t slash = path.rfind('/');
  return slash == absl::string_view::npos ? path : path.substr(slash + 1);
}

/// Parses argv into the ABSL_FLAGs. `usage` says what the program does; --help prints it,
/// then the flags defined in the file that calls this (the example's own), whatever the
/// binary is called: Abseil's default lists only the flags of a file named after the
/// binary. Exits for --help, an unknown flag or a malformed value (Abseil's doing);
/// returns false, after saying why, when a positional argument is left over.
inline bool parse_flags(int argc, char** argv, absl::string_view usage,
                        std::source_location caller = std::source_location::current()) {
  const std::string main_file(file_name_only(caller.file_name()));
  absl::FlagsUsageConfig config;
  config.contains_help_flags = [main_file](absl::string_view file) { return file_name_only(file) == main_file; };
  config.contains_helpshort_flags = config.contains_help_flags;
  config.contains_helppackage_flags = config.contains_help_flags;
  config.normalize_filename = [](absl::string_view file) { return std::string(file_name_only(file)); };
  absl::SetFlagsUsageConfig(config);
  absl::SetProgramUsageMessage(usage);
  const std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() <= 1) return true;
  std::fprintf(stderr, "ERROR: unexpected argument '%s': this example takes only flags (--name=value); see --help\n",
               rest[1]);
  return false;
}

/// Reads `flag` into `out` when its value lies in [min, max]; otherwise says which flag
/// is out of range and returns false, leaving `out` alone.
template <class T, class Out>
bool read_flag(const absl::Flag<T>& flag, std::type_identity_t<T> min, std::type_identity_t<T> max, Out& out) {
  const T value = absl::GetFlag(flag);
  if (value >= min && value <= max) {
    out = static_cast<Out>(value);
    return true;
  }
  const std::string message = absl::StrCat("ERROR: --", absl::GetFlagReflectionHandle(flag).Name(), "=", value,
                                           " is out of range: it must be between ", min, " and ", max);
  std::fprintf(stderr, "%s\n", message.c_str());
  return false;
}

}  // namespace sn::examples
