#!/bin/bash
# mlsae serve from the command line: bad options give one error line and a
# non-zero exit; a good start prints the address, answers HTTP on it (a
# request over bash's /dev/tcp: no curl binary needed) and stops cleanly on
# SIGINT. The API itself is tested by test_server.
set -u
: "${MLSAE_BIN:?}" "${MLSAE_TEST_FIXTURES:?}"
F="$MLSAE_TEST_FIXTURES"
TMP=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$TMP"' EXIT
fail=0
common=(--model_name "$F/server/model" --tokenizer "$F/text/tiny-tokenizer.json" --threads 2)

bad() { # bad DESCRIPTION PATTERN ARGS...
  local what=$1 pattern=$2; shift 2
  timeout 60 "$MLSAE_BIN" serve "$@" > "$TMP/out" 2> "$TMP/err"
  local rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$(grep -c '^mlsae serve: ' "$TMP/err")" -eq 1 ] &&
     grep -q -- "$pattern" "$TMP/err"; then
    echo "ok: $what ($(cat "$TMP/err"))"
  else
    echo "FAIL: $what (exit $rc): $(cat "$TMP/err")"; fail=1
  fi
}

bad "no checkpoint" "--checkpoint" "${common[@]}"
bad "missing checkpoint" "nowhere" --checkpoint "$TMP/nowhere" "${common[@]}"
bad "bad port" "--port 70000" --checkpoint "$F/server/sae" --port 70000 "${common[@]}"
bad "port not a number" "--port x" --checkpoint "$F/server/sae" --port x "${common[@]}"
bad "missing examples file" "--examples" --checkpoint "$F/server/sae" --examples "$TMP/none.db" "${common[@]}"
printf 'not a database' > "$TMP/bad.db"
bad "examples file that is not SQLite" "bad.db" --checkpoint "$F/server/sae" --examples "$TMP/bad.db" "${common[@]}"
# an examples database of another SAE (tests/gen/gen_server_bad_examples.py)
bad "examples of another SAE: a latent past n_latents" "bad_latent.db: latent 64 is out of range for this SAE's 64 latents" \
  --checkpoint "$F/server/sae" --examples "$F/server/bad_latent.db" "${common[@]}"
bad "examples of another SAE: a layer not the SAE's" "bad_layer.db: layer 3 is not among this SAE's 3 layers" \
  --checkpoint "$F/server/sae" --examples "$F/server/bad_layer.db" "${common[@]}"
mkfifo "$TMP/fifo.db"
bad "a FIFO as --examples" "fifo.db: not a regular file (a FIFO)" --checkpoint "$F/server/sae" --examples "$TMP/fifo.db" "${common[@]}"
bad "a directory as --dists" "--dists $TMP: not a regular file (a directory)" --checkpoint "$F/server/sae" --dists "$TMP" "${common[@]}"
bad "bad host" "--host" --checkpoint "$F/server/sae" --host "no.such.host.invalid" "${common[@]}"
bad "SAE of another width" "n_inputs" --checkpoint "$F/sae/ckpt_ref" "${common[@]}"
bad "unknown option" "nonsense" --checkpoint "$F/server/sae" --nonsense 1 "${common[@]}"
# a dists file for the fixture SAE (3 layers, 64 latents) whose first totals
# value is NaN: refused at start, not sent as broken JSON
hdr='{"counts":{"dtype":"F32","shape":[3,64],"data_offsets":[0,768]},"totals":{"dtype":"F32","shape":[3,64],"data_offsets":[768,1536]}}'
while [ $(( ${#hdr} % 8 )) -ne 0 ]; do hdr="$hdr "; done
{ printf "$(printf '\\%03o' ${#hdr} 0 0 0 0 0 0 0)"; printf '%s' "$hdr"
  head -c 768 /dev/zero; printf '\000\000\300\177'; head -c 764 /dev/zero; } > "$TMP/nan-dists.safetensors"
bad "NaN in the dists file" "nan-dists.safetensors: tensor 'totals' has a non-finite value (nan) at element 0" \
  --checkpoint "$F/server/sae" --dists "$TMP/nan-dists.safetensors" "${common[@]}"

# a good start on a free port
"$MLSAE_BIN" serve --checkpoint "$F/server/sae" --examples "$F/server/examples.db" --port 0 \
  "${common[@]}" > "$TMP/serve.out" 2> "$TMP/serve.err" &
pid=$!
port=
for _ in $(seq 1 100); do
  port=$(sed -n 's|^serving .* on http://127\.0\.0\.1:\([0-9]*\)/$|\1|p' "$TMP/serve.out")
  [ -n "$port" ] && break
  sleep 0.1
done
if [ -z "$port" ]; then
  echo "FAIL: no address printed: $(cat "$TMP/serve.out" "$TMP/serve.err")"; fail=1
else
  echo "ok: serving on port $port"
  # a second server on the same port fails with one line
  bad "port in use" "port $port" --checkpoint "$F/server/sae" --port "$port" "${common[@]}"
  body='{"prompt": "hello"}'
  if exec 3<>"/dev/tcp/127.0.0.1/$port"; then
    printf 'POST /api/py/prompt/tokens HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
      "$port" "${#body}" "$body" >&3
    timeout 30 cat <&3 > "$TMP/reply"
    exec 3<&-
  fi
  if head -n 1 "$TMP/reply" | grep -q '^HTTP/1.1 200' && grep -q '"token":"hello"\|"pos":0' "$TMP/reply"; then
    echo "ok: POST /api/py/prompt/tokens answered"
  else
    echo "FAIL: no answer: $(head -c 300 "$TMP/reply")"; fail=1
  fi
  kill -INT "$pid"
  wait "$pid"; rc=$?
  pid=
  if [ "$rc" -eq 0 ] && grep -q '^stopped' "$TMP/serve.out"; then echo "ok: stops on SIGINT"
  else echo "FAIL: exit $rc after SIGINT: $(cat "$TMP/serve.err")"; fail=1; fi
fi
exit $fail
