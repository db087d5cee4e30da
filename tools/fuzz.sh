#!/usr/bin/env bash
# Fuzz every parser (fuzz/fuzz_targets/*, bodies in fuzz/src/lib.rs).
#
#   tools/fuzz.sh --short            each target 18 s (what tools/test runs)
#   tools/fuzz.sh --long [SECS]      each target SECS (default 300) s
#   tools/fuzz.sh ... --only NAME    one target
#   tools/fuzz.sh ... --stable       skip cargo-fuzz, use the stable mutator
#
# cargo-fuzz (libFuzzer, coverage-guided) needs nightly flags: on the stable toolchain
# RUSTC_BOOTSTRAP=1 unlocks them. It is installed from crates.io when missing. If it
# cannot be installed or built, the same target bodies run under the seeded mutator of
# tests/harden_fuzz.rs (HARDEN_FUZZ_SECS), so a run always fuzzes something.
#
# Seeds: the repository's real fixtures (crates/wire/src/testdata, rules/, tests/rules,
# tests/scenarios) plus fuzz/seeds/<target>. The growing corpus lives under the
# target directory, not in git. A crash fails the run and prints the reproducer path;
# replay it with `cargo fuzz run TARGET FILE` or copy it to fuzz/regressions/<target>/
# (tests/harden_fuzz.rs replays that folder in every cargo test).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
cd "$repo"

secs=18 only="" stable=0
while [ $# -gt 0 ]; do
  case "$1" in
    --short) secs=18 ;;
    --long) secs=300; if [[ "${2:-}" =~ ^[0-9]+$ ]]; then secs=$2; shift; fi ;;
    --only) only=$2; shift ;;
    --stable) stable=1 ;;
    *) echo "fuzz.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

targets=(uevent rtnetlink gpt mbr btrfs signature modalias rules cmdline trace core)
[ -n "$only" ] && targets=("$only")

base_target=${CARGO_TARGET_DIR:-$repo/target}
fuzz_target_dir="$base_target/fuzz"
work="$fuzz_target_dir/work"
mkdir -p "$work"

# --- seeds ---------------------------------------------------------------------
# The first 64 KiB (+ the btrfs superblock) of filesystems made by the real tools,
# when they are installed: real magic numbers at real offsets.
real_fs_heads() { # dir
  local dir=$1 tmp img
  tmp=$(mktemp -d); img="$tmp/img"
  for mk in "mkfs.ext4 -q -F" "mkfs.xfs -q -f" "mkfs.vfat" "mkswap" "mkfs.btrfs -q -f -L x"; do
    command -v "${mk%% *}" >/dev/null 2>&1 || continue
    rm -f "$img"; truncate -s 320M "$img"
    $mk "$img" >/dev/null 2>&1 || continue
    head -c $((0x11000)) "$img" > "$dir/real-${mk%% *}"
  done
  rm -rf "$tmp"
}

seed_corpus() { # target dir
  local t=$1 dir=$2 f i=0
  mkdir -p "$dir"
  local td="$repo/crates/wire/src/testdata"
  case "$t" in
    uevent) cp "$td"/ue_* "$dir"/ 2>/dev/null ;;
    rtnetlink) cp "$td"/rt_* "$dir"/ 2>/dev/null ;;
    gpt | mbr | signature)
      cp "$td"/gpt* "$td"/mbr* "$td"/lvm2* "$td"/btrfs* "$dir"/ 2>/dev/null
      [ "$t" = signature ] && real_fs_heads "$dir"
      ;;
    btrfs) cp "$td"/btrfs* "$dir"/ 2>/dev/null ;;
    rules)
      # Byte 0 picks the file a seed lands in (fuzz/src/lib.rs, check_rules).
      while IFS= read -r f; do
        { printf "\\x$(printf %02x $((i % 5)))"; cat "$f"; } > "$dir/seed-$i"
        i=$((i + 1))
      done < <(find "$repo/rules" "$repo/tests/rules" -name '*.toml' 2>/dev/null | sort)
      ;;
    trace) find "$repo/tests/scenarios" -type f -exec cp {} "$dir"/ \; 2>/dev/null ;;
  esac
  [ -d "$repo/fuzz/seeds/$t" ] && cp "$repo/fuzz/seeds/$t"/* "$dir"/ 2>/dev/null
  [ -d "$repo/fuzz/regressions/$t" ] && cp "$repo/fuzz/regressions/$t"/* "$dir"/ 2>/dev/null
  true
}

# --- stable fallback ---------------------------------------------------------------
run_stable() {
  echo "fuzz.sh: stable mutator (tests/harden_fuzz.rs), ${secs}s per target" >&2
  local rc=0 t
  for t in "${targets[@]}"; do
    HARDEN_FUZZ_SECS=$secs HARDEN_FUZZ_ONLY=$t HARDEN_FUZZ_SEED=$RANDOM$RANDOM \
      cargo test --release --test harden_fuzz -- --nocapture every_target 2>&1 |
      grep -E 'harden_fuzz:|panicked|failed|input saved' >&2
    [ "${PIPESTATUS[0]}" = 0 ] || rc=1
  done
  return $rc
}

if [ "$stable" = 1 ]; then run_stable; exit; fi

export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz from crates.io" >&2
  cargo install --locked cargo-fuzz >/dev/null 2>&1 || true
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: cargo-fuzz unavailable; falling back" >&2
  run_stable; exit
fi

cd "$repo/fuzz"
export CARGO_TARGET_DIR="$fuzz_target_dir"
# Release code with debug assertions (integer overflow panics, as a finding), and no
# AddressSanitizer: the parsers are safe Rust (unsafe_code is denied outside the
# ioctl modules, which are not fuzzed), and ASan's allocator makes the
# multi-megabyte disk buffers of the signature target several times slower.
flags=(-O -a -s none)
if ! cargo fuzz build "${flags[@]}" >"$work/build.log" 2>&1; then
  tail -20 "$work/build.log" >&2
  echo "fuzz.sh: cargo fuzz build failed; falling back" >&2
  cd "$repo"; unset CARGO_TARGET_DIR
  run_stable; exit
fi

failed=() summary=()
for t in "${targets[@]}"; do
  corpus="$work/corpus/$t" artifacts="$work/artifacts/$t/"
  seed_corpus "$t" "$corpus"
  mkdir -p "$artifacts"
  max_len=4096
  case "$t" in gpt | signature | btrfs | rules | trace) max_len=65536 ;; esac
  log="$work/$t.log"
  cargo fuzz run "${flags[@]}" "$t" "$corpus" -- \
    -max_total_time="$secs" -max_len=$max_len -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts" -print_final_stats=1 >"$log" 2>&1
  rc=$?
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1)
  if [ "$rc" = 0 ]; then
    summary+=("$t: ok, ${runs:-?} runs in ${secs}s, ${cov:-cov ?}, corpus $(ls "$corpus" | wc -l)")
  else
    failed+=("$t")
    summary+=("$t: FAILED (exit $rc) — reproducer(s): $(ls "$artifacts" 2>/dev/null | sed "s|^|$artifacts|" | tr '\n' ' ')")
    grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$log" | head -10 >&2
  fi
  echo "fuzz.sh: ${summary[-1]}" >&2
done

echo
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]} (logs in $work)"
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, no crash"
