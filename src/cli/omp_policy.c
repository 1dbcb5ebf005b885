/* OpenMP wait policy for the tool, chosen before libgomp reads it.
 *
 * libgomp busy-waits between parallel regions by default, which costs many
 * times the run time as soon as anything else wants the cores (measured on 2
 * cores with one busy process beside a training run: 72 s spinning, 3.6 s
 * passive; 4.0 s vs 4.4 s on an idle machine). libgomp reads
 * OMP_WAIT_POLICY once, in its ELF constructor, and has no call to change
 * it afterwards.
 *
 * An executable's .preinit_array runs before the constructors of every
 * shared library it loads (System V ABI; glibc's _dl_init), so setting the
 * variable there reaches libgomp however the program is started: directly,
 * through the dynamic loader (ld.so ./mlsae), under valgrind, from a
 * wrapper. Unlike re-executing /proc/self/exe it needs no second exec.
 * glibc's start code afterwards points environ back at the original
 * environment, so the setting does not leak into child processes. The
 * user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT wins. */
#include "config.h"

#include <stdlib.h>

extern char **environ;

/* the environment setenv built, kept reachable after glibc restores the original */
static char **passive_environ;

static void prefer_passive_openmp(int argc, char **argv, char **envp)
{
    (void)argc, (void)argv, (void)envp;
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    if (setenv("OMP_WAIT_POLICY", "passive", 0) == 0) passive_environ = environ;
}

__attribute__((section(".preinit_array"), used))
static void (*const mlsae_preinit_omp)(int, char **, char **) = prefer_passive_openmp;
