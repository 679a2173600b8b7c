# Every dependency comes from a Debian package, found here and nowhere else.
set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)
find_package(absl REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(HWLOC REQUIRED IMPORTED_TARGET hwloc)
# Each worker's heap. Debian's libmimalloc is built to override malloc: linking it makes
# mimalloc the allocator of the whole process (see docs/architecture.md).
find_package(mimalloc REQUIRED)
