#!/bin/sh
# Data-parallel training over MPI (doc/scaling.md): the time T(N) of an Adam
# step ($A micro-batches) for N = 1, 2, 4 ranks of $B sequences each (a global micro-batch of
# N x $B: weak scaling, as `mpirun -np N mlsae train` scales), on random
# activations for an x$E SAE over $L layers of d_model $D; tokens/s, the
# speed-up N T(1) / T(N) (ideal: N), rank 0's time inside MPI per step, and
# the gradient allreduce volume per Adam step beside a 100 Gb/s roofline.
#
# The step time is the difference of the times of two training calls (S1
# and S2 steps; tests/dp_helper's `interrupt 0 0`, which times the call
# itself, not the process or MPI start-up) divided by S2 - S1, so set-up, the
# geometric median of the first micro-batch and the final checkpoint cancel
# out. Each run is repeated R times and the fastest is kept (the machine may
# be shared). Needs tests/dp_helper (make check builds
# it) and mpirun. On a machine with fewer cores than ranks (--oversubscribe)
# the ranks share cores: the figures then show the overhead of the
# reductions, not a speed-up.
set -eu
BIN=${MLSAE_BIN:-./mlsae}
DP=${DP_HELPER:-./tests/dp_helper}
MPIRUN=${MPIRUN:-mpirun}
D=${D:-512} L=${L:-6} POS=${POS:-64} B=${B:-4} E=${E:-16} K=${K:-32}
S1=${S1:-2} S2=${S2:-8} R=${R:-2} A=${A:-1} RANKS=${RANKS:-"1 2 4"}
CORES=$(nproc)
if ! "$BIN" version | grep -q '^features:.*mpi ('; then
    echo "bench_mpi: skipped: this build has no MPI (configure --with-mpi)"; exit 0
fi
command -v "$MPIRUN" >/dev/null || { echo "bench_mpi: skipped: no mpirun (openmpi-bin)"; exit 0; }
[ -x "$DP" ] || { echo "bench_mpi: $DP missing: make tests/dp_helper (or make check) first"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlsae-bench-mpi-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

n_lat=$((E * D))
bytes=$(( (2 * n_lat * D + D) * 4 ))
echo "bench_mpi: d_model $D, $L layers, x$E ($n_lat latents), k $K; $B x $POS tokens x $L layers per rank and micro-batch; $CORES cores"
echo "gradient allreduce per Adam step: $bytes bytes ($(awk -v b=$bytes 'BEGIN{printf "%.1f MB", b/1e6}'))"

run() { # n steps -> "seconds mpi_seconds" of the training call on rank 0
    n=$1 steps=$2
    f="$tmp/acts$n.safetensors"
    [ -f "$f" ] || "$DP" random "$f" $((S2 * A * n)) "$L" "$B" "$POS" "$D" 1
    thr=$((CORES / n)); [ "$thr" -ge 1 ] || thr=1
    opts="--activations $f --out $tmp/run$n --autoencoder.expansion_factor $E --autoencoder.k $K
          --trainer.max_steps $steps --trainer.accumulate_grad_batches $A --log_every_n_steps 1000 --device cpu --threads $thr --seed 1"
    if [ "$n" -eq 1 ]; then
        "$DP" interrupt 0 0 $opts >"$tmp/out" 2>/dev/null
    else
        "$MPIRUN" --allow-run-as-root --oversubscribe -np "$n" "$DP" interrupt 0 0 $opts >"$tmp/out" 2>/dev/null
    fi
    sed -n 's/^trained after .* in \([0-9.]*\) s, \([0-9.]*\) s in MPI$/\1 \2/p' "$tmp/out"
    rm -rf "$tmp/run$n"
}

best() { # the fastest of R runs
    i=0
    while [ $i -lt "$R" ]; do run "$1" "$2"; i=$((i + 1)); done | sort -n | head -1
}

printf "%5s %12s %10s %10s %14s %22s\n" ranks "T(N) (s)" "tokens/s" "N T1/TN" "MPI/step (s)" "roofline 100Gb/s (s)"
t1=
for n in $RANKS; do
    a=$(best "$n" "$S1"); b=$(best "$n" "$S2")
    step=$(echo "$a $b" | awk -v d=$((S2 - S1)) '{printf "%.4f", ($3 - $1) / d}')
    mpi=$(echo "$a $b" | awk -v d=$((S2 - S1)) '{printf "%.4f", ($4 - $2) / d}')
    [ -n "$t1" ] || t1=$step
    tok=$(awk -v s="$step" -v n="$n" -v b="$B" -v p="$POS" 'BEGIN{printf "%.0f", n * b * p / s}')
    eff=$(awk -v s="$step" -v t="$t1" -v n="$n" 'BEGIN{printf "%.2f", n * t / s}')
    roof=$(awk -v b="$bytes" -v n="$n" 'BEGIN{printf "%.4f", 2 * b * (n - 1) / n / 12.5e9}')
    printf "%5s %12s %10s %10s %14s %22s\n" "$n" "$step" "$tok" "$eff" "$mpi" "$roof"
done
echo "(tokens are those of the global micro-batch, one per sequence position; each"
echo " token carries $L layer vectors. Threads per rank: $CORES / N, at least 1; with"
echo " N > $CORES the ranks time-share the cores.)"
