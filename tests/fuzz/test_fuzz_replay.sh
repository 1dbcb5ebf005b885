#!/bin/sh
# Replays each fuzz target's seed corpus and regression inputs through the
# target (tests/fuzz/replay_main.c): every input a fuzzer once crashed on
# stays fixed, in the normal and the sanitizer builds.
set -u
: "${MLSAE_BIN:?}" "${MLSAE_TEST_SRCDIR:?}"
build=$(dirname "$MLSAE_BIN")/tests/fuzz
src="$MLSAE_TEST_SRCDIR/fuzz"
fail=0
for t in safetensors st_index neox_config tokenizer_json tokenizer_encode run_config_yaml \
         dataset checkpoint torch_archive server_request; do
    dirs="$src/corpus/$t"
    [ -d "$src/regressions/$t" ] && dirs="$dirs $src/regressions/$t"
    if out=$("$build/replay_$t" $dirs 2>&1); then
        echo "  $t: $out"
    else
        echo "FAIL: $t"; echo "$out" | tail -20; fail=1
    fi
done
[ $fail -eq 0 ] && echo "test_fuzz_replay: PASS"
exit $fail
