#!/bin/sh
# Long fuzzing runs: every target of tests/fuzz for SECONDS each (default
# 600), in a clang build with --enable-fuzzing. The working corpora grow in
# WORK (default /tmp/mlsae-fuzz-work), seeded from tests/fuzz/corpus; crashes
# land in WORK/crashes/<target>/. Prints executions and coverage per target.
#   ./configure CC=clang --enable-fuzzing && make -j2 && bench/fuzz.sh 600
set -u
cd "$(dirname "$0")/.."
secs=${1:-600}
work=${WORK:-/tmp/mlsae-fuzz-work}
jobs=${JOBS:-1}
export MLSAE_TEST_FIXTURES="$PWD/tests/fixtures"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
for t in safetensors st_index neox_config tokenizer_json tokenizer_encode run_config_yaml \
         dataset checkpoint torch_archive server_request; do
    bin=tests/fuzz/fuzz_$t
    [ -x "$bin" ] || { echo "$bin missing: ./configure CC=clang --enable-fuzzing && make"; exit 1; }
    mkdir -p "$work/$t" "$work/crashes/$t"
    cp -n tests/fuzz/corpus/$t/* "$work/$t/" 2>/dev/null
    "$bin" -max_total_time="$secs" -jobs="$jobs" -workers="$jobs" -print_final_stats=1 \
        -artifact_prefix="$work/crashes/$t/" "$work/$t" >"$work/$t.log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$work/$t.log" | tail -1)
    echo "$t: ${execs:-?} executions, $cov, exit $rc, $(ls "$work/crashes/$t" | wc -l) crash files"
    [ $rc -eq 0 ] || status=1
done
exit $status
