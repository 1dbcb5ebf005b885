#!/bin/sh
# The tool's OpenMP wait policy (src/cli/omp_policy.c) reaches libgomp however
# it is started: directly, through the dynamic loader, under valgrind (when
# installed); the user's own OMP_WAIT_POLICY wins. libgomp reports the policy
# it read with OMP_DISPLAY_ENV=true.
set -u
: "${MLSAE_BIN:?}"
LIBTOOL="$(dirname "$MLSAE_BIN")/libtool"
fail=0
die() { echo "FAIL: $*"; fail=1; }
policy() { # policy LAUNCHER...: the OMP_WAIT_POLICY libgomp reports
    env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT OMP_DISPLAY_ENV=true "$@" version 2>&1 |
        sed -n "s/^ *OMP_WAIT_POLICY = '\([A-Z]*\)'.*/\1/p" | head -n 1
}
p=$(policy "$MLSAE_BIN")
[ "$p" = PASSIVE ] || die "direct start: policy '$p'"
echo "  direct: $p"
real=$("$LIBTOOL" --mode=execute echo "$MLSAE_BIN" 2>/dev/null | awk '{print $NF}')
ldso=$(readelf -p .interp "$real" 2>/dev/null | sed -n 's/.*\] *//p' | head -n 1)
if [ -n "$ldso" ] && [ -x "$ldso" ]; then
    p=$(policy "$LIBTOOL" --mode=execute "$ldso" "$MLSAE_BIN")
    [ "$p" = PASSIVE ] || die "started by $ldso: policy '$p'"
    echo "  $ldso: $p"
else
    echo "  (no dynamic loader found for $real: skipped)"
fi
if ! command -v valgrind >/dev/null 2>&1; then
    echo "  (valgrind not installed: skipped)"
elif ldd "$real" 2>/dev/null | grep -q -e libasan -e libtsan; then
    echo "  (a sanitizer build: valgrind skipped)"
else
    p=$(policy "$LIBTOOL" --mode=execute valgrind -q --error-exitcode=9 "$MLSAE_BIN")
    [ "$p" = PASSIVE ] || die "under valgrind: policy '$p'"
    echo "  valgrind: $p"
fi
p=$(env OMP_WAIT_POLICY=active OMP_DISPLAY_ENV=true "$MLSAE_BIN" version 2>&1 |
    sed -n "s/^ *OMP_WAIT_POLICY = '\([A-Z]*\)'.*/\1/p" | head -n 1)
[ "$p" = ACTIVE ] || die "the user's OMP_WAIT_POLICY=active gave '$p'"
[ $fail -eq 0 ] && echo "test_omp_policy: PASS"
exit $fail
