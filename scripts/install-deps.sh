#!/usr/bin/env bash
#
# install-deps.sh: installs what building and testing Trine KV needs, from
# Debian's packages.
#
# Idempotent: each package is checked with dpkg-query first; when all are
# present the script prints nothing and exits 0. Only when something is
# missing does it run `apt-get update` (quietly) and install the missing
# packages, through sudo when not root.
#
# Besides the build and test dependencies it installs, by default, what the
# side-by-side benchmark needs, since CI runs its smoke (scripts/test.sh, plain
# stage: scripts/bench.sh --smoke): the peer engines' development packages
# (RocksDB, LevelDB, LMDB), gnuplot-nox for the charts and python3 for the
# page. trine_bench builds each peer's driver only when its package is found.
#
# Environment:
#   TRINE_BENCH_PEERS=0   skip the benchmark's packages (the library, tests,
#                         examples and trine_bench itself need none of them;
#                         the bench smoke then runs only the engines built in).
#
set -euo pipefail

packages=(build-essential cmake pkg-config libck-dev libzstd-dev libxxhash-dev liblz4-dev check)
if [[ "${TRINE_BENCH_PEERS:-1}" != "0" ]]; then
    packages+=(librocksdb-dev libleveldb-dev liblmdb-dev gnuplot-nox python3)
fi

# A package counts as present only when dpkg says "install ok installed";
# a removed package whose config files remain reports "deinstall ok config-files".
is_installed() {
    local status
    status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) || return 1
    [[ "$status" == "install ok installed" ]]
}

missing=()
for pkg in "${packages[@]}"; do
    if ! is_installed "$pkg"; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]} == 0)); then
    exit 0
fi

if [[ "$(id -u)" == "0" ]]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "install-deps.sh: missing ${missing[*]}; run as root or install sudo" >&2
    exit 1
fi

echo "install-deps.sh: installing ${missing[*]}"
# Wait for a concurrent apt/dpkg run instead of failing on its lock.
apt_opts=(-qq -o DPkg::Lock::Timeout=300)
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update >/dev/null
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}" >/dev/null

# Verify, so a silently failed install is caught here and not at cmake time.
still_missing=()
for pkg in "${missing[@]}"; do
    is_installed "$pkg" || still_missing+=("$pkg")
done
if ((${#still_missing[@]} > 0)); then
    echo "install-deps.sh: still missing after install: ${still_missing[*]}" >&2
    exit 1
fi
echo "install-deps.sh: done"
