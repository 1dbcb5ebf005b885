#!/bin/sh
# The dynamic symbols that the built libmlsae.so defines are exactly the
# public API: the functions declared with MLSAE_API in include/mlsae.h (each
# declaration starts with MLSAE_API on the line that names the function).
set -u
builddir=${MLSAE_BUILDDIR:?}
srcdir=${MLSAE_SRCDIR:?}
lib="$builddir/.libs/libmlsae.so"
header="$srcdir/include/mlsae.h"
nm=${NM:-nm}
[ -f "$lib" ] || { echo "SKIP: no $lib (built with --disable-shared?)"; exit 77; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# Declared: "MLSAE_API <type> [*]name(" -> name.
sed -n 's/^MLSAE_API[^(]*[^A-Za-z0-9_(]\([A-Za-z_][A-Za-z0-9_]*\)(.*/\1/p' "$header" |
    sort > "$tmp/declared"
n_declared=$(wc -l < "$tmp/declared")
[ "$n_declared" -gt 0 ] || { echo "FAIL: no MLSAE_API declarations parsed from $header"; exit 1; }
# A declaration the pattern missed would leave an MLSAE_API line unparsed.
n_lines=$(grep -c '^MLSAE_API ' "$header")
[ "$n_lines" -eq "$n_declared" ] || {
    echo "FAIL: $n_lines MLSAE_API lines in $header, $n_declared function names parsed"; exit 1; }

# Exported: every defined dynamic symbol, whatever its type (functions,
# data); version-script markers (type A) are not symbols of the library.
$nm -D --defined-only "$lib" | awk '$2 != "A" { print $3 }' | sed 's/@.*//' | sort -u \
    > "$tmp/exported" || { echo "FAIL: $nm -D failed on $lib"; exit 1; }
n_exported=$(wc -l < "$tmp/exported")

echo "libmlsae.so: $n_exported exported symbols; $header: $n_declared MLSAE_API functions"
if ! diff -u "$tmp/declared" "$tmp/exported" > "$tmp/diff"; then
    echo "FAIL: exported symbols differ from the public API (- declared only, + exported only):"
    sed -n '/^[-+][^-+]/p' "$tmp/diff"
    exit 1
fi
# Every exported symbol is a function (type T), not data.
n_text=$($nm -D --defined-only "$lib" | awk '$2 == "T"' | wc -l)
[ "$n_text" -eq "$n_exported" ] || {
    echo "FAIL: $((n_exported - n_text)) exported symbols are not functions"; exit 1; }
# The OpenCL plugin needs nothing of ours from the program that loads it
# (the internals are hidden there): no undefined mlsae_ symbols.
plugin="$builddir/backends/opencl/.libs/mlsae-opencl.so"
if [ -f "$plugin" ]; then
    undef=$($nm -D --undefined-only "$plugin" | awk '{ print $NF }' | grep '^mlsae_')
    [ -z "$undef" ] || { echo "FAIL: $plugin needs $undef from its host"; exit 1; }
fi
echo "PASS"
