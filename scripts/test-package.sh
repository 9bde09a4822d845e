#!/usr/bin/env bash
#
# test-package.sh: installs Trine into a temporary prefix and builds a user's
# program against it (tests/package/consumer) the four ways a user would:
#
#   pkg-config shared   cc ... $(pkg-config --cflags --libs trine), rpath into the prefix
#   pkg-config static   cc -static ... $(pkg-config --static --cflags --libs trine)
#   CMake shared        find_package(trine 0.1 REQUIRED), trine::trine
#   CMake static        find_package(trine 0.1 REQUIRED), trine::trine_static
#
# Each program is run (it opens an in-memory database, puts, gets, checks that
# trine_version() is TRINE_VERSION_STRING) and its linkage checked: the shared
# builds must load libtrine.so from the prefix, the static ones must not need
# libtrine.so at all. Also checked: `pkg-config --cflags trine` gives nothing
# but -I flags, `--static --libs` names ck, zstd and xxhash, and the trine CLI
# is installed as bin/trine.
#
#   scripts/test-package.sh              configure and build build/test-package
#                                        (library and CLI only), then test
#   scripts/test-package.sh BUILD_DIR    reuse a configured build tree (its
#                                        library and CLI targets are brought
#                                        up to date, nothing else is built)
#
# The prefix and the consumer builds live in one mktemp -d directory, removed
# on exit. Exit status 0 when everything passed, 1 on the first failure (with
# a message naming it). Takes well under a minute with a reused build.
#
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
jobs=$(nproc 2>/dev/null || echo 2)
cc=${CC:-cc}

step=setup
fail() {
    echo "test-package.sh: FAILED: $*" >&2
    exit 1
}
tmp=
cleanup() {
    local rc=$?
    [[ -z "$tmp" ]] || rm -rf "$tmp"
    if ((rc != 0)); then
        echo "test-package.sh: FAILED in step '$step' (exit $rc)" >&2
    fi
}
trap cleanup EXIT

if (($# > 1)) || [[ "${1:-}" == -* ]]; then
    sed -n '3,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    [[ "${1:-}" == -h || "${1:-}" == --help ]] && exit 0
    exit 2
fi

for tool in cmake pkg-config "$cc" readelf ldd; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool not found"
done

# --------------------------------------------------------------- build ---
step=build
if (($# == 1)); then
    build=$1
    [[ -f "$build/CMakeCache.txt" ]] || fail "$build is not a configured CMake build tree"
else
    build=build/test-package
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTRINE_WERROR=ON \
        -DTRINE_SANITIZE= -DTRINE_BUILD_TESTS=OFF -DTRINE_BUILD_EXAMPLES=OFF \
        -DTRINE_BUILD_BENCH=OFF -DTRINE_BUILD_CLI=ON >/dev/null
fi
if ! grep -q '^TRINE_BUILD_CLI:BOOL=ON' "$build/CMakeCache.txt"; then
    fail "$build has TRINE_BUILD_CLI off: the installed bin/trine is part of the test"
fi
if grep -q '^TRINE_SANITIZE:STRING=.' "$build/CMakeCache.txt"; then
    fail "$build is a sanitizer build: the consumers would not link against it"
fi
cmake --build "$build" -j"$jobs" --target trine_shared trine_static trine_cli >/dev/null

# ------------------------------------------------------------- install ---
step=install
tmp=$(mktemp -d "${TMPDIR:-/tmp}/trine-package.XXXXXX")
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" ||
    { cat "$tmp/install.log" >&2; fail "cmake --install $build --prefix $prefix"; }
echo "test-package.sh: installed $build into $prefix:"
(cd "$prefix" && find . -type f -o -type l | sort | sed 's/^\.\//  /')

pc=$(find "$prefix" -name trine.pc -path '*/pkgconfig/*' | head -1)
[[ -n "$pc" ]] || fail "no trine.pc installed"
config=$(find "$prefix" -name trineConfig.cmake | head -1)
[[ -n "$config" ]] || fail "no trineConfig.cmake installed"
[[ -f "$(dirname "$config")/trineConfigVersion.cmake" ]] || fail "no trineConfigVersion.cmake installed"
# The installed export must not name targets only the Trine build defines.
if grep -l 'PkgConfig::' "$(dirname "$config")"/*.cmake; then
    fail "the installed CMake package names PkgConfig::* targets (files above)"
fi

# ----------------------------------------------------------------- CLI ---
step=cli
[[ -f "$prefix/bin/trine" && -x "$prefix/bin/trine" ]] || fail "bin/trine not installed or not executable"
echo "test-package.sh: bin/trine installed and executable"

# ---------------------------------------------------------- pkg-config ---
step=pkg-config
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
pc_prefix=$(pkg-config --variable=prefix trine)
[[ "$pc_prefix" == "$prefix" ]] || fail "trine.pc says prefix=$pc_prefix, installed under $prefix"
pc_cflags=$(pkg-config --cflags trine)
pc_libs=$(pkg-config --libs trine)
pc_static=$(pkg-config --static --libs trine)
echo "test-package.sh: pkg-config --cflags trine:        $pc_cflags"
echo "test-package.sh: pkg-config --libs trine:          $pc_libs"
echo "test-package.sh: pkg-config --static --libs trine: $pc_static"
for flag in $pc_cflags; do
    [[ $flag == -I* ]] || fail "pkg-config --cflags trine gives $flag: only -I flags belong there"
done
for lib in -ltrine -lck -lzstd -lxxhash -llz4; do
    [[ " $pc_static " == *" $lib "* ]] || fail "pkg-config --static --libs trine lacks $lib"
done
[[ " $pc_libs " == *" -ltrine "* ]] || fail "pkg-config --libs trine lacks -ltrine"
for lib in -lck -lzstd -lxxhash -llz4; do
    [[ " $pc_libs " != *" $lib "* ]] || fail "pkg-config --libs trine (shared) names $lib"
done
libdir=$(pkg-config --variable=libdir trine)

src=$root/tests/package/consumer
work=$tmp/work
mkdir -p "$work"

# check_shared BINARY: needs libtrine.so and loads it from the prefix.
check_shared() {
    readelf -d "$1" | grep -q 'NEEDED.*\[libtrine\.so' || fail "$1 does not link libtrine.so"
    local resolved
    resolved=$(ldd "$1" | awk '$1 ~ /^libtrine\.so/ {print $3}')
    [[ "$resolved" == "$prefix"/* ]] || fail "$1 loads libtrine.so from '${resolved:-nowhere}', not $prefix"
    echo "  links $(basename "$resolved") from the prefix"
}
# check_static BINARY: does not need libtrine.so.
check_static() {
    if readelf -d "$1" | grep -q 'NEEDED.*\[libtrine\.so'; then
        fail "$1 was meant to be static but needs libtrine.so"
    fi
    echo "  no libtrine.so dependency"
}
# run_consumer NAME BINARY
run_consumer() {
    "$2" >"$work/$1.out" 2>&1 || { cat "$work/$1.out" >&2; fail "$1: the consumer failed"; }
    grep -q '^consumer: ok$' "$work/$1.out" || { cat "$work/$1.out" >&2; fail "$1: no 'consumer: ok'"; }
    sed -n 's/^consumer: trine_version/  trine_version/p' "$work/$1.out"
}

cc_flags=(-std=c11 -Wall -Wextra -Werror)

step="pkg-config shared"
echo "test-package.sh: $step"
# shellcheck disable=SC2086 # pkg-config output is meant to be split
"$cc" "${cc_flags[@]}" $pc_cflags "$src/consumer.c" -o "$work/pc-shared" $pc_libs \
    -Wl,-rpath,"$libdir"
check_shared "$work/pc-shared"
run_consumer pc-shared "$work/pc-shared"

step="pkg-config static"
echo "test-package.sh: $step"
# -static makes the linker take libtrine.a (and the .a of every dependency):
# a library missing from Libs.private fails this link. (--static does not
# change --cflags: Libs.private has no Cflags counterpart.)
# shellcheck disable=SC2086
"$cc" "${cc_flags[@]}" -static $pc_cflags "$src/consumer.c" \
    -o "$work/pc-static" $pc_static
check_static "$work/pc-static"
run_consumer pc-static "$work/pc-static"

# ---------------------------------------------------------------- CMake ---
# cmake_consumer NAME TARGET
cmake_consumer() {
    local dir=$work/$1
    cmake -S "$src" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
        -DTRINE_TARGET="$2" -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON >"$dir.log" 2>&1 ||
        { cat "$dir.log" >&2; fail "$1: configuring the consumer (find_package(trine 0.1))"; }
    local found
    found=$(sed -n 's/^trine_DIR:PATH=//p' "$dir/CMakeCache.txt")
    [[ "$found" == "$prefix"/* ]] || fail "$1: find_package(trine) found '$found', not the prefix"
    cmake --build "$dir" >>"$dir.log" 2>&1 || { cat "$dir.log" >&2; fail "$1: building the consumer"; }
}

step="CMake trine::trine"
echo "test-package.sh: $step"
cmake_consumer cmake-shared trine::trine
check_shared "$work/cmake-shared/consumer"
run_consumer cmake-shared "$work/cmake-shared/consumer"

step="CMake trine::trine_static"
echo "test-package.sh: $step"
cmake_consumer cmake-static trine::trine_static
check_static "$work/cmake-static/consumer"
run_consumer cmake-static "$work/cmake-static/consumer"

# trineConfigVersion.cmake: a request for this major.minor is met; while the
# major is 0, one for the next minor is not (SameMinorVersion, see CMakeLists.txt).
step="CMake version check"
mkdir -p "$work/version"
cat >"$work/version/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.16)
project(trine_version_probe LANGUAGES C) # C: trineConfig finds Threads
find_package(trine ${WANT} QUIET)
if(trine_FOUND)
  message(STATUS "probe: found ${trine_VERSION}")
else()
  message(STATUS "probe: not found")
endif()
EOF
version=$(pkg-config --modversion trine)
IFS=. read -r major minor _ <<<"$version"
probe() {
    rm -rf "$work/version/build"
    cmake -S "$work/version" -B "$work/version/build" -DCMAKE_PREFIX_PATH="$prefix" \
        -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON -DWANT="$1" 2>&1 | sed -n 's/^-- probe: //p'
}
[[ "$(probe "$major.$minor")" == "found $version" ]] || fail "find_package(trine $major.$minor) does not accept $version"
echo "test-package.sh: find_package(trine $major.$minor) accepts $version"
if ((major == 0)); then
    [[ "$(probe "0.$((minor + 1))")" == "not found" ]] || fail "find_package(trine 0.$((minor + 1))) accepts $version"
    echo "test-package.sh: find_package(trine 0.$((minor + 1))) rejects $version"
fi

step=finished
echo "test-package.sh: all passed (pkg-config shared and static, CMake trine::trine and trine::trine_static)"
