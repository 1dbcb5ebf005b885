# Helpers shared by the shell tests, sourced after `fail=0`:
#   . "${MLSAE_TEST_SRCDIR:-$(dirname "$0")}/testlib.sh"
# A failed check sets fail=1; the test exits with it at the end.

# check DESCRIPTION COMMAND...: "ok: DESCRIPTION" when COMMAND succeeds,
# else "FAIL: DESCRIPTION".
check() {
    d=$1; shift
    if "$@"; then echo "ok: $d"; else echo "FAIL: $d"; fail=1; fi
}

# one_line_error NAME STATUS STDERR_FILE PATTERN...: a non-zero STATUS and
# exactly one error line ("mlsae CMD: ..."; progress lines may come before
# it) that matches every PATTERN.
one_line_error() {
    name=$1 st=$2 file=$3; shift 3
    ok=1
    line=$(grep '^mlsae [a-z-]*: ' "$file")
    [ "$st" -ne 0 ] && [ "$(grep -c '^mlsae [a-z-]*: ' "$file")" -eq 1 ] || ok=0
    for pat in "$@"; do printf '%s\n' "$line" | grep -q -- "$pat" || ok=0; done
    if [ $ok -eq 1 ]; then
        echo "ok: $name ($line)"
    else
        echo "FAIL: $name (status $st):"; cat "$file"; fail=1
    fi
}

# mpi_launcher: with an MPI build and mpirun found, MR is the launcher
# ("mpirun --allow-run-as-root --oversubscribe": root on CI, more ranks
# than cores) and it returns 0; else MPI_SKIP says why and it returns 1.
mpi_launcher() {
    if ! "${MLSAE_BIN:-./mlsae}" version | grep -q '^features:.*mpi ('; then
        MPI_SKIP="this build has no MPI (configure --with-mpi; Debian: libopenmpi-dev)"
        return 1
    fi
    MPIRUN=${MPIRUN:-$(command -v mpirun || true)}
    if [ -z "$MPIRUN" ]; then
        MPI_SKIP="mpirun not found (Debian: openmpi-bin)"
        return 1
    fi
    MR="$MPIRUN --allow-run-as-root --oversubscribe"
    export OMPI_MCA_btl_vader_single_copy_mechanism=none
    return 0
}
