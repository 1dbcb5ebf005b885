#!/bin/sh
# mlsae demo from the command line, bad options only (a whole demo run takes
# minutes): each gives one error line, a non-zero exit, and writes nothing,
# the device included (checked before the model and the data are written).
set -u
: "${MLSAE_BIN:?}"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mlsae-demo-cli-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
fail=0
bad() { # bad NAME NEEDLE ARGS...
    name=$1 needle=$2; shift 2
    timeout 60 "$MLSAE_BIN" demo "$@" --out "$TMP/out" >"$TMP/stdout" 2>"$TMP/err"
    rc=$?
    if [ $rc -eq 0 ] || [ $rc -ge 124 ]; then echo "FAIL: $name: exit status $rc"; fail=1; fi
    [ "$(wc -l <"$TMP/err")" -eq 1 ] && grep -q "^mlsae demo: .*$needle" "$TMP/err" ||
        { echo "FAIL: $name: $(cat "$TMP/err")"; fail=1; }
    [ ! -e "$TMP/out" ] || { echo "FAIL: $name: $(cd "$TMP/out" && ls) written"; fail=1; rm -rf "$TMP/out"; }
    echo "  $name -> $(cat "$TMP/err")"
}
bad "unknown device" "unknown device 'gpu'" --device gpu
bad "malformed device" "unknown device 'opencl:x'" --device opencl:x
bad "too few tokens" "--tokens 0" --tokens 0
bad "bad threads" "--threads -1" --threads -1
bad "unknown option" "--bogus" --bogus
exit $fail
