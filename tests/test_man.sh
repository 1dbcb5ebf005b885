#!/bin/sh
# The generated manual page doc/mlsae.1 lists every command of 'mlsae --help'
# and every run option (with its aliases) of 'mlsae config --help', and
# groff (when installed) formats it without a warning.
set -u
man_page=${MLSAE_BUILDDIR:?}/doc/mlsae.1
bin=${MLSAE_BIN:?}
fail() { echo "FAIL: $*"; exit 1; }
[ -s "$man_page" ] || fail "$man_page is missing or empty"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
# The page's text with roff's escapes for '-' and the zero-width '\&' removed.
sed -e 's/\\-/-/g' -e 's/\\&//g' "$man_page" > "$tmp/text"

"$bin" --help | sed -n 's/^  \([a-z][a-z-]*\)  .*/\1/p' > "$tmp/commands"
[ "$(wc -l < "$tmp/commands")" -ge 5 ] || fail "could not read the command list from mlsae --help"
while read -r c; do
    grep -qx "\.B $c" "$tmp/text" || fail "command '$c' is not in $man_page"
done < "$tmp/commands"

# "    --autoencoder.k N, -k" -> --autoencoder.k, -k
"$bin" config --help | sed -n 's/^    \(--[a-z].*\)/\1/p' | tr ',' '\n' |
    sed -e 's/^ *//' -e 's/ .*//' | grep '^-' > "$tmp/flags"
[ "$(wc -l < "$tmp/flags")" -ge 30 ] || fail "could not read the options from mlsae config --help"
while read -r f; do
    grep -q "^\.BI \"$f \"" "$tmp/text" || fail "option '$f' is not in $man_page"
done < "$tmp/flags"
echo "$(wc -l < "$tmp/commands") commands and $(wc -l < "$tmp/flags") option flags found"

if command -v groff > /dev/null 2>&1; then
    groff -man -Tutf8 -ww -z "$man_page" > "$tmp/groff" 2>&1 || fail "groff failed: $(cat "$tmp/groff")"
    [ -s "$tmp/groff" ] && fail "groff warnings: $(cat "$tmp/groff")"
fi
echo PASS
