// MPI return codes as absl::Status, with MPI's own message. Private to src/cluster/.
#pragma once

#include <mpi.h>

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace sn::detail {

/// OK for MPI_SUCCESS, else Internal naming `call` and MPI_Error_string's text.
inline absl::Status mpi_status(int code, const char* call) {
  if (code == MPI_SUCCESS) return absl::OkStatus();
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) length = 0;
  return absl::InternalError(absl::StrCat(call, " failed: ", std::string(text, static_cast<std::size_t>(length))));
}

}  // namespace sn::detail
