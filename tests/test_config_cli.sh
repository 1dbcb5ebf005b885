#!/bin/sh
# mlsae config: --help, --print round trip, CLI over file, and one-line
# errors with a non-zero exit for bad files and options.
set -u
fail=0
bin="${MLSAE_BIN:-./mlsae}"
fix="${MLSAE_TEST_FIXTURES:-tests/fixtures}/config"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlsae-config-XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

check() { # description, then a command that must succeed
    what=$1; shift
    if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; fail=1; fi
}

# Run `mlsae config ARGS...` with stdout to FILE; it must exit 0.
config_to() {
    file=$1; shift
    if "$bin" config "$@" >"$file"; then echo "ok: config $*"; else echo "FAIL: config $*"; fail=1; fi
}

# A failing run: non-zero exit, nothing on stdout, exactly one stderr line
# that starts with "mlsae config:" and contains $2.
expect_error() {
    want=$1; shift
    "$bin" config "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    lines=$(wc -l <"$tmp/err")
    if [ "$rc" -ne 0 ] && [ "$lines" -eq 1 ] && [ ! -s "$tmp/out" ] &&
        grep -q '^mlsae config: ' "$tmp/err" && grep -qF -- "$want" "$tmp/err"; then
        echo "ok: error '$want'"
    else
        echo "FAIL: config $* -> rc=$rc, $lines stderr lines:"; cat "$tmp/err"
        fail=1
    fi
}

config_to "$tmp/help" --help
check "--help lists autoencoder.k with its default" grep -q 'default: 32' "$tmp/help"
check "--help lists every section" grep -q 'trainer.accumulate_grad_batches' "$tmp/help"
config_to "$tmp/summary"
check "summary shows dead_steps_threshold 76" grep -q 'dead_steps_threshold: *76 ' "$tmp/summary"

# --print round trip: the printed YAML reads back to the same configuration.
config_to "$tmp/a.yaml" --config "$fix/good.yaml" --k 7 --layers 1,3 --print
check "CLI overrides the file" grep -q '^  k: 7$' "$tmp/a.yaml"
check "file value kept" grep -q '^  expansion_factor: 32$' "$tmp/a.yaml"
check "layers printed" grep -q '^layers: \[1, 3\]$' "$tmp/a.yaml"
config_to "$tmp/b.yaml" --config "$tmp/a.yaml" --print
check "round trip is identical" cmp -s "$tmp/a.yaml" "$tmp/b.yaml"
config_to "$tmp/r.yaml" -c "$fix/reference.yaml" --print
check "reference expansion factor" grep -q '^  expansion_factor: 64$' "$tmp/r.yaml"

expect_error "unknown_key.yaml:4:3: unknown key 'autoencoder.kk'" --config "$fix/unknown_key.yaml"
expect_error "wrong_type.yaml:4:28: trainer.accumulate_grad_batches: expected an integer" -c "$fix/wrong_type.yaml"
expect_error "out_of_range.yaml:3:7: autoencoder.lr: must be > 0" --config="$fix/out_of_range.yaml"
expect_error "no-such.yaml" --config "$fix/no-such.yaml"
expect_error "option --k: must be >= 1, got 0" --k 0
expect_error "option --expansion-factor: expected an integer, got 'big'" --expansion-factor big
expect_error "option --lr needs a value" --lr
expect_error "unknown option '--bogus'" --bogus 3
expect_error "unexpected argument 'stray'" stray
expect_error "option --device: unknown device 'tpu'" --device tpu
printf 'seed: [1\n' >"$tmp/broken.yaml"
expect_error "broken.yaml:2:1: invalid YAML" --config "$tmp/broken.yaml"

# revision: from YAML and the command line, printed back; a bad one refused
printf 'model_name: EleutherAI/pythia-70m-deduped\nrevision: step1000\n' > "$tmp/rev.yaml"
config_to "$tmp/rev.out" --config "$tmp/rev.yaml" --print
check "revision from YAML printed back" grep -q '^revision: step1000$' "$tmp/rev.out"
config_to "$tmp/rev2.out" --config "$tmp/rev.yaml" --revision 0123456789abcdef0123456789abcdef01234567 --print
check "--revision overrides YAML" grep -Eq '^revision: "?0123456789abcdef0123456789abcdef01234567"?$' "$tmp/rev2.out"
config_to "$tmp/rev3.out" --print
check "revision defaults to null (main)" grep -q '^revision: null$' "$tmp/rev3.out"
expect_error "revision '../x'" --revision ../x

exit $fail
