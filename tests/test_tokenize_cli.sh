#!/bin/sh
# mlsae tokenize: help, encode, decode round trip, JSON Lines in order, and
# one-line errors (bad tokenizer file naming the file and field, unknown id
# naming the id and position, malformed JSON Lines naming the line).
# Uses the tiny tokenizer fixture, so it needs no shared data.
set -u
BIN=${MLSAE_BIN:?}
TOK="$MLSAE_TEST_FIXTURES/text/tiny-tokenizer.json"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0
check() { # description, command status (0 = ok)
    if [ "$2" -eq 0 ]; then echo "ok: $1"; else echo "FAIL: $1"; fail=1; fi
}

"$BIN" tokenize --help >"$TMP/help" 2>&1
check "--help exits 0" $?
grep -q -- "--jsonl" "$TMP/help" && grep -q -- "--decode" "$TMP/help"
check "--help lists the options" $?

ids=$("$BIN" tokenize --tokenizer "$TOK" "Hello <|endoftext|> world  x")
check "encode exits 0" $?
case "$ids" in 0\ *|*\ 0\ *) r=0 ;; *) r=1 ;; esac
check "encode finds <|endoftext|> (id 0) in '$ids'" $r

text=$("$BIN" tokenize --tokenizer "$TOK" --decode "$ids")
[ "$text" = "Hello <|endoftext|> world  x" ]
check "decode round trip gives '$text'" $?

text=$("$BIN" tokenize --tokenizer "$TOK" --decode --skip-special "$ids")
[ "$text" = "Hello  world  x" ]
check "decode --skip-special gives '$text'" $?

printf 'tab\there\n\nline3' >"$TMP/in.txt"
"$BIN" tokenize --tokenizer "$TOK" --file "$TMP/in.txt" >"$TMP/ids.txt"
"$BIN" tokenize --tokenizer "$TOK" --decode --file "$TMP/ids.txt" >"$TMP/back.txt"
cmp -s "$TMP/in.txt" "$TMP/back.txt"
check "--file encode/decode round trip is byte-exact" $?

# JSON Lines: one output line per input line, in order, same ids as single encodes.
: >"$TMP/in.jsonl"
i=0
while [ $i -lt 2100 ]; do
    printf '{"text": "doc %d is here", "meta": {"n": %d}}\n' $i $i >>"$TMP/in.jsonl"
    i=$((i + 1))
done
"$BIN" tokenize --tokenizer "$TOK" --jsonl --threads 3 <"$TMP/in.jsonl" >"$TMP/out.jsonl"
check "--jsonl exits 0" $?
[ "$(wc -l <"$TMP/out.jsonl")" -eq 2100 ]
check "--jsonl writes one line per document" $?
want=$("$BIN" tokenize --tokenizer "$TOK" "doc 2077 is here" | tr ' ' ',')
line=$(sed -n 2078p "$TMP/out.jsonl")
[ "$line" = "{\"ids\":[$want]}" ]
check "--jsonl line 2078 is '$line' (expected ids [$want])" $?

# Errors: one line, non-zero exit.
printf '{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": 5}, "pre_tokenizer": {"type": "ByteLevel"}}' >"$TMP/bad.json"
"$BIN" tokenize --tokenizer "$TMP/bad.json" "x" 2>"$TMP/err" >/dev/null
r=$?
[ $r -ne 0 ] && grep -q "bad.json" "$TMP/err" && grep -q "model.merges" "$TMP/err" && [ "$(wc -l <"$TMP/err")" -eq 1 ]
st=$?; check "bad tokenizer file: $(cat "$TMP/err")" $st

"$BIN" tokenize --tokenizer "$TOK" --decode "5 6 123456" 2>"$TMP/err" >/dev/null
r=$?
[ $r -ne 0 ] && grep -q "123456" "$TMP/err" && grep -q "position 2" "$TMP/err"
st=$?; check "unknown id: $(cat "$TMP/err")" $st

"$BIN" tokenize --tokenizer "$TOK" --decode "5 x7" 2>"$TMP/err" >/dev/null
[ $? -ne 0 ] && grep -q "position 1" "$TMP/err"
st=$?; check "not an id: $(cat "$TMP/err")" $st

printf '{"text": "a"}\n{"text": 3}\n' | "$BIN" tokenize --tokenizer "$TOK" --jsonl 2>"$TMP/err" >/dev/null
[ $? -ne 0 ] && grep -q "stdin:2: field 'text'" "$TMP/err"
st=$?; check "ill-typed text: $(cat "$TMP/err")" $st

printf '{"text": "a"}\n{"text": \n' | "$BIN" tokenize --tokenizer "$TOK" --jsonl 2>"$TMP/err" >/dev/null
[ $? -ne 0 ] && grep -q "stdin:2:" "$TMP/err"
st=$?; check "malformed JSON line: $(cat "$TMP/err")" $st

"$BIN" tokenize "x" 2>"$TMP/err" >/dev/null
[ $? -ne 0 ] && grep -q -- "--tokenizer" "$TMP/err"
st=$?; check "missing --tokenizer: $(cat "$TMP/err")" $st

exit $fail
