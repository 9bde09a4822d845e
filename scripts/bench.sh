#!/usr/bin/env bash
#
# bench.sh: Trine against RocksDB, LevelDB and LMDB, side by side in one run,
# then the generated pages and charts under docs/benchmarks/.
#
#   scripts/bench.sh            full mode: 10^6 keys, 3 rounds (what the docs quote)
#   scripts/bench.sh --quick    the same workloads, smaller (under 5 minutes on 2 cores)
#   scripts/bench.sh --smoke    CI: 10,000 keys, one round, every engine built in;
#                               checks correctness (every read verified), not speed.
#                               Installs nothing; renders into the work directory.
#                               Includes a 10,000-key storm (below).
#   scripts/bench.sh --storm    the write storm only: 10^7 random-order puts per engine
#                               within a 64 MiB memory budget (Trine memory_limit_bytes;
#                               the peers' write buffers and block cache sized to fit),
#                               one round: throughput, worst second, put latency, peak
#                               RSS, write amplification, stall time (storm.md). Not in
#                               CI; --num=100000 makes a quick smoke of it.
#
# Options:
#   --rounds=K        rounds (default: full 3, quick 2, smoke 1, storm 1)
#   --num=N           keys of the main and reopen sets, and of the storm
#   --engines=a,b     engines to run (default: every engine trine_bench was built with)
#   --build-dir=DIR   build tree (default build/bench; configured and built here)
#   --no-build        use --build-dir as it is (its trine_bench must exist)
#   --no-install      do not install missing packages
#   --work=DIR        scratch directory for the databases (default build/bench-work;
#                     it must be on the disk you want to measure; emptied first)
#   --out=DIR         where MODE.md, charts/ and data/ go (default docs/benchmarks;
#                     smoke: WORK/out)
#   --no-drop-caches  skip the cold-reopen rows that need the page cache dropped
#   --budget-mib=M    the storm's memory budget per engine (default 64)
#
# Method (docs/benchmarks/README.md): each (engine, workload set) runs in its
# own trine_bench process on a fresh directory, after a `sync`, so page
# cache, RSS, allocator state and pending writeback never carry over from
# one engine to the next. A round runs
# every set for every engine; sets go one after the other and, within a set,
# the engines run back to back, starting with a different engine each round.
# Every run appends JSON lines to data/MODE.jsonl; bench/render.py turns them
# into MODE.md (tables, Trine/peer ratios, machine, command, commit) and
# charts/MODE-*.svg (gnuplot).
#
# Exit status: 0 when every run passed its checks; 1 when any run failed (the
# page still lists the failures); 2 for bad options or a missing tool.
#
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
command_line="scripts/bench.sh${*:+ $*}"

# The code measured is the tree as it is now: record it before anything runs
# (outputs under docs/benchmarks/ do not make it dirty).
bench_commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
bench_dirty=$(git status --porcelain 2>/dev/null | grep -v ' docs/benchmarks/' | head -1 || true)

mode=full
rounds= num= engines= build_dir=build/bench work=build/bench-work out=
build=1 install=1 drop=1 budget_mib=64
for arg in "$@"; do
    case $arg in
    --quick) mode=quick ;;
    --smoke) mode=smoke ;;
    --full) mode=full ;;
    --storm) mode=storm ;;
    --budget-mib=*) budget_mib=${arg#*=} ;;
    --rounds=*) rounds=${arg#*=} ;;
    --num=*) num=${arg#*=} ;;
    --engines=*) engines=${arg#*=} ;;
    --build-dir=*) build_dir=${arg#*=} ;;
    --no-build) build=0 ;;
    --no-install) install=0 ;;
    --work=*) work=${arg#*=} ;;
    --out=*) out=${arg#*=} ;;
    --no-drop-caches) drop=0 ;;
    -h | --help)
        sed -n '3,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "bench.sh: unknown option $arg (see --help)" >&2
        exit 2
        ;;
    esac
done

# Sizes per mode: main/reopen keys, 16 KiB-value keys, synced puts per
# fillsync run, probe seconds.
case $mode in
full) : "${rounds:=3}" "${num:=1000000}"; big_num=20000 sync_ops=10000 probe_s=2 ;;
quick) : "${rounds:=2}" "${num:=100000}"; big_num=5000 sync_ops=1000 probe_s=1 ;;
smoke) : "${rounds:=1}" "${num:=10000}"; big_num=1000 sync_ops=200 probe_s=0.2
    install=0 drop=0 ;;
storm) : "${rounds:=1}" "${num:=10000000}"; big_num=0 sync_ops=0 probe_s=0 drop=0 ;;
esac
[[ $budget_mib =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: --budget-mib wants a positive integer" >&2; exit 2; }
reopen_reads=10000
[[ $num -ge $reopen_reads ]] || reopen_reads=$num

# ------------------------------------------------------------ packages ---
bench_packages=(librocksdb-dev libleveldb-dev liblmdb-dev gnuplot-nox python3)
is_installed() {
    local status
    status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) || return 1
    [[ "$status" == "install ok installed" ]]
}
if ((install)) && command -v dpkg-query >/dev/null 2>&1; then
    bash scripts/install-deps.sh
    missing=()
    for pkg in "${bench_packages[@]}"; do
        is_installed "$pkg" || missing+=("$pkg")
    done
    if ((${#missing[@]} > 0)); then
        as_root=()
        [[ "$(id -u)" == "0" ]] || as_root=(sudo)
        echo "bench.sh: installing ${missing[*]}"
        apt_opts=(-qq -o DPkg::Lock::Timeout=300)
        "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update >/dev/null
        "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}" >/dev/null
    fi
fi
python=$(command -v python3 || true)
if [[ -z "$python" ]]; then
    if [[ $mode != smoke ]]; then
        echo "bench.sh: python3 is needed to render the pages" >&2
        exit 2
    fi
    echo "bench.sh: note: no python3: the smoke run checks the engines but renders no page"
fi

# --------------------------------------------------------------- build ---
if ((build)); then
    cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DTRINE_BUILD_TESTS=OFF \
        -DTRINE_BUILD_EXAMPLES=OFF -DTRINE_BUILD_BENCH=ON -DTRINE_BENCH_PEERS=ON \
        -DTRINE_SANITIZE= >"$build_dir.configure.log" 2>&1 ||
        { cat "$build_dir.configure.log" >&2; exit 2; }
    grep -E "trine_bench" "$build_dir.configure.log" | sed 's/^-- /bench.sh: /' || true
    cmake --build "$build_dir" --target trine_bench -j"$(nproc)" >/dev/null
fi
bench=$build_dir/trine_bench
[[ -x $bench ]] || { echo "bench.sh: $bench not found (build it, or drop --no-build)" >&2; exit 2; }

built=$("$bench" --list_engines | paste -sd, -)
[[ -n "$engines" ]] || engines=$built
IFS=, read -r -a engine_list <<<"$engines"
for e in "${engine_list[@]}"; do
    [[ ",$built," == *",$e,"* ]] || { echo "bench.sh: engine $e not built in (have $built)" >&2; exit 2; }
done
for p in rocksdb leveldb lmdb; do
    [[ ",$built," == *",$p,"* ]] || echo "bench.sh: note: $p is not built in (its -dev package was not found): left out"
done

# ---------------------------------------------------------------- work ---
# Emptied first, so guard against a mistyped --work: it must be new, empty or
# marked by an earlier bench.sh run.
if [[ -d "$work" && -n "$(ls -A "$work")" && ! -e "$work/.trine_bench_work" ]]; then
    echo "bench.sh: --work=$work is not empty and was not made by bench.sh: pass a new directory" >&2
    exit 2
fi
rm -rf "$work"
mkdir -p "$work"
echo "bench.sh scratch directory: emptied at every run" >"$work/.trine_bench_work"
[[ -n "$out" ]] || { [[ $mode == smoke ]] && out=$work/out || out=docs/benchmarks; }
mkdir -p "$out/data"
data=$out/data/$mode.jsonl
log=$work/bench.log
: >"$data"

if ((drop)) && [[ "$(id -u)" != "0" ]]; then
    echo "bench.sh: note: not root: the page-cache-dropped reopen rows are skipped"
    drop=0
fi
drop_caches() {
    sync
    echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
}

started=$(date +%s)
failures=0
# run SET ENGINE ROUND DIR [trine_bench flags...]: one process on DIR (emptied
# by trine_bench unless --use_existing_db), JSON lines appended to $data.
run() {
    local set=$1 engine=$2 round=$3 dir=$4
    shift 4
    # Not timed: the dirty pages the run before left (another engine's
    # database, this one's emptied directory) are written back now, so no
    # run measures a device still busy with the previous one's writeback.
    sync
    local t0=$SECONDS
    if "$bench" --engines="$engine" --db="$dir" --json --tag="$set" --round="$round" "$@" \
        >>"$data" 2>>"$log"; then
        printf '  %-12s %-8s %4ds\n' "$set" "$engine" $((SECONDS - t0))
    else
        printf '  %-12s %-8s FAILED (see %s)\n' "$set" "$engine" "$log"
        failures=$((failures + 1))
    fi
}

# storm_round ROUND: the write storm (set @storm), each engine in its own
# process within the --budget-mib memory budget.
storm_round() {
    for e in "${order[@]}"; do
        run storm "$e" "$1" "$work/db-storm-$e" --benchmarks=@storm --num="$num" \
            --memory_budget_mib="$budget_mib"
        rm -rf "$work/db-storm-$e"
    done
}

for ((round = 1; round <= rounds; round++)); do
    n=${#engine_list[@]}
    order=()
    for ((i = 0; i < n; i++)); do order+=("${engine_list[$(((i + round - 1) % n))]}"); done
    echo "bench.sh: round $round of $rounds ($mode, $num keys): ${order[*]}"
    if [[ $mode == storm ]]; then
        storm_round "$round"
        continue
    fi
    for e in "${order[@]}"; do
        run main "$e" "$round" "$work/db-main-$e" --benchmarks=@main --num="$num"
    done
    for e in "${order[@]}"; do
        # Large values are what blob files are for: Trine keeps values of
        # 4 KiB or more in them (the flag means nothing to the peers).
        run big "$e" "$round" "$work/db-big-$e" --benchmarks=@big --num="$big_num" \
            --value_size=16384 --trine_blob_threshold=4096
    done
    for e in "${order[@]}"; do
        # The same keys written six times (#22's overwrite-heavy run): write
        # and space amplification once background work (compaction, blob
        # GC) has settled.
        run bigover "$e" "$round" "$work/db-bigover-$e" --benchmarks=@bigover --num="$big_num" \
            --value_size=16384 --trine_blob_threshold=4096
        rm -rf "$work/db-bigover-$e"
    done
    for e in "${order[@]}"; do
        if [[ $e == trine ]]; then
            run trine_only "$e" "$round" "$work/db-trine_only" --benchmarks=@trine_only \
                --num="$num"
        fi
    done
    for e in "${order[@]}"; do
        # #21's reader figure: Trine's snapshot-bound reader (and the copying
        # get) against LMDB's gets after a full compaction, both reading in
        # place from the page cache (Trine: mmap_reads, uncompressed tables).
        case $e in
        trine) run reader "$e" "$round" "$work/db-reader-$e" --num="$num" --trine_mapped \
            --benchmarks=fillrandom,compact,readrandom,readsnapshot ;;
        lmdb) run reader "$e" "$round" "$work/db-reader-$e" --num="$num" \
            --benchmarks=fillrandom,compact,readrandom ;;
        esac
        rm -rf "$work/db-reader-$e"
    done
    for e in "${order[@]}"; do
        # The closed database is kept pristine and each timed reopen runs on a
        # copy: an LSM's first open replays its WAL (and may write a table), so
        # a second open of the same directory would measure another state.
        pristine=$work/db-reopen-$e
        run reopen_fill "$e" "$round" "$pristine" --benchmarks=@reopen_fill --num="$num" --keep_db
        for cache in warm cold; do
            if [[ $cache == cold ]] && ! ((drop)); then
                continue
            fi
            rm -rf "$work/db-copy" && cp -a "$pristine" "$work/db-copy"
            if [[ $cache == cold ]] && ! drop_caches; then
                echo "bench.sh: note: could not drop the page cache: cold reopen skipped"
                drop=0
                continue
            fi
            run "reopen_$cache" "$e" "$round" "$work/db-copy" --benchmarks=@reopen --num="$num" \
                --reads="$reopen_reads" --use_existing_db
        done
        rm -rf "$pristine" "$work/db-copy"
    done
    for e in "${order[@]}"; do
        run sync "$e" "$round" "$work/db-sync-$e" --benchmarks=@sync --num="$sync_ops" \
            --seconds="$probe_s"
    done
    # The storm at the smoke's size: the write path under a memory budget,
    # a sample of its keys read back and checked.
    [[ $mode != smoke ]] || storm_round "$round"
done
rm -rf "$work"/db-*
elapsed=$(($(date +%s) - started))

# ---------------------------------------------------------------- meta ---
# Passed through the environment, so no quoting can break the JSON.
cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
mem=$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
fs=$(df -T "$work" | awk 'NR == 2 {print $2}')
os=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")
if [[ -z "$python" ]]; then
    ((failures == 0)) || { echo "bench.sh: $failures run(s) FAILED; see $log" >&2; exit 1; }
    echo "bench.sh: all runs passed their checks (no page rendered: no python3)"
    exit 0
fi
BENCH_MODE=$mode BENCH_COMMAND=$command_line \
BENCH_COMMIT=$bench_commit \
BENCH_DIRTY=$bench_dirty \
BENCH_DATE=$(date -u '+%Y-%m-%d %H:%M UTC') \
BENCH_ELAPSED="$((elapsed / 60)) min $((elapsed % 60)) s" \
BENCH_MACHINE="$(nproc) × ${cpu:-unknown CPU}, $mem, $fs ($(uname -r)), $os" \
BENCH_NUM=$num BENCH_BIG_NUM=$big_num BENCH_ROUNDS=$rounds BENCH_DROPPED=$drop \
BENCH_BUDGET_MIB=$budget_mib \
    "$python" - "$data" <<'EOF'
import json, os, sys
env = os.environ
meta = {"type": "meta", "mode": env["BENCH_MODE"], "command": env["BENCH_COMMAND"],
        "commit": env["BENCH_COMMIT"], "dirty": bool(env["BENCH_DIRTY"]),
        "date": env["BENCH_DATE"], "elapsed": env["BENCH_ELAPSED"],
        "machine": env["BENCH_MACHINE"], "num": int(env["BENCH_NUM"]),
        "big_num": int(env["BENCH_BIG_NUM"]), "rounds": int(env["BENCH_ROUNDS"]),
        "dropped": env["BENCH_DROPPED"] == "1", "budget_mib": int(env["BENCH_BUDGET_MIB"]),
        "data": sys.argv[1]}
path = sys.argv[1]
with open(path) as f:
    lines = f.read()
with open(path, "w") as f:
    f.write(json.dumps(meta, ensure_ascii=False) + "\n" + lines)
EOF
echo "bench.sh: $((elapsed / 60)) min $((elapsed % 60)) s; results in $data"

# -------------------------------------------------------------- render ---
"$python" bench/render.py --data="$data" --out="$out" --mode="$mode"
if ((failures > 0)); then
    echo "bench.sh: $failures run(s) FAILED; see $log and the Failures section of $out/$mode.md" >&2
    exit 1
fi
echo "bench.sh: all runs passed their checks"
