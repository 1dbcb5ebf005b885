/* Minimal test helpers. A test program exits 0 (pass), 1 (fail) or 77 (skip,
 * automake's convention) and says why on stdout/stderr. */
#ifndef MLSAE_TESTUTIL_H
#define MLSAE_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

extern int tu_failures;
extern int tu_checks;

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        tu_checks++;                                                                      \
        if (!(cond)) {                                                                    \
            tu_failures++;                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);      \
        }                                                                                 \
    } while (0)

#define CHECKF(cond, ...)                                                                 \
    do {                                                                                  \
        tu_checks++;                                                                      \
        if (!(cond)) {                                                                    \
            tu_failures++;                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);      \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                          \
        }                                                                                 \
    } while (0)

/* max_i |a-b| / max(max_i |b|, floor): relative error against the reference's
 * scale (elementwise relative error is meaningless near zero). */
double tu_max_rel_err(const float *a, const float *ref, size_t n, double floor);
/* Check tu_max_rel_err(...) < tol and report the figure. */
#define CHECK_REL(a, ref, n, tol, what)                                                    \
    do {                                                                                  \
        double _e = tu_max_rel_err((a), (ref), (n), 1e-30);                               \
        tu_checks++;                                                                      \
        if (!(_e < (tol))) {                                                              \
            tu_failures++;                                                                \
            fprintf(stderr, "%s:%d: %s: max relative error %.3g >= %.3g\n", __FILE__,     \
                    __LINE__, (what), _e, (double)(tol));                                 \
        } else {                                                                          \
            printf("  %s: max relative error %.3g (< %.3g)\n", (what), _e, (double)(tol)); \
        }                                                                                 \
    } while (0)

/* Exit status for the end of main(): prints a summary. */
/* A set-up step failed and the test cannot go on: the message on stderr,
 * exit status 1. */
#define TU_DIE(...)                                                                        \
    do {                                                                                   \
        fprintf(stderr, __VA_ARGS__);                                                      \
        fprintf(stderr, "\n");                                                             \
        exit(1);                                                                           \
    } while (0)

int tu_finish(const char *name);
/* Print "SKIP: why" and exit 77. */
void tu_skip(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* $MLSAE_TEST_FIXTURES/<rel> (tests/fixtures) into a static buffer. */
const char *tu_fixture(const char *rel);
/* $MLSAE_SHARED_DATA/<rel>, or NULL when the shared data is absent. */
const char *tu_shared_data(const char *rel);
/* A fresh temporary directory (removed at exit unless MLSAE_KEEP_TMP is set). */
const char *tu_tmpdir(void);

/* Deterministic pseudo-random numbers for test inputs. */
typedef struct { uint64_t s; } tu_rng;
float tu_uniform(tu_rng *r, float lo, float hi);
float tu_normal(tu_rng *r);

/* A small Pythia-like GPT-NeoX configuration (2 layers, 2 heads, parallel
 * residual, rotary_pct 0.25, Pythia's 50304 vocabulary rows) of the given
 * width, MLP width and context, for tests that write random models. */
struct mlsae_neox_config;
void tu_small_neox_config(struct mlsae_neox_config *mc, int hidden, int intermediate,
                          int max_positions);

#endif
