#include "config.h"
#include "testutil.h"
#include "model/neox_config.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int tu_failures = 0;
int tu_checks = 0;

double tu_max_rel_err(const float *a, const float *ref, size_t n, double floor)
{
    double scale = floor, worst = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs((double)ref[i]) > scale) scale = fabs((double)ref[i]);
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)ref[i]);
        if (isnan(a[i]) != isnan(ref[i])) return INFINITY;
        if (d > worst) worst = d;
    }
    return worst / scale;
}

int tu_finish(const char *name)
{
    if (tu_checks == 0) {
        fprintf(stderr, "%s: no checks ran\n", name);
        return 1;
    }
    printf("%s: %d checks, %d failed\n", name, tu_checks, tu_failures);
    return tu_failures ? 1 : 0;
}

void tu_skip(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("SKIP: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    exit(77);
}

const char *tu_fixture(const char *rel)
{
    static char buf[8][4096];
    static int slot;
    const char *dir = getenv("MLSAE_TEST_FIXTURES");
    if (!dir) dir = "tests/fixtures";
    char *out = buf[slot++ % 8];
    snprintf(out, 4096, "%s/%s", dir, rel);
    return out;
}

const char *tu_shared_data(const char *rel)
{
    static char buf[8][4096];
    static int slot;
    const char *dir = getenv("MLSAE_SHARED_DATA");
    if (!dir) return NULL;
    char *out = buf[slot++ % 8];
    snprintf(out, 4096, "%s/%s", dir, rel);
    struct stat sb;
    if (stat(out, &sb) != 0) return NULL;
    return out;
}

static char tmp_path[4096];

static void remove_tmp(void)
{
    if (tmp_path[0] && !getenv("MLSAE_KEEP_TMP")) {
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_path);
        if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tmp_path);
    }
}

const char *tu_tmpdir(void)
{
    if (tmp_path[0]) return tmp_path;
    const char *base = getenv("TMPDIR");
    snprintf(tmp_path, sizeof tmp_path, "%s/mlsae-test-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(tmp_path)) {
        perror("mkdtemp");
        exit(99);
    }
    atexit(remove_tmp);
    return tmp_path;
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

float tu_uniform(tu_rng *r, float lo, float hi)
{
    double u = (double)(splitmix(&r->s) >> 11) / 9007199254740992.0;
    return lo + (float)(u * (hi - lo));
}

float tu_normal(tu_rng *r)
{
    double u1 = ((double)(splitmix(&r->s) >> 11) + 1.0) / 9007199254740993.0;
    double u2 = (double)(splitmix(&r->s) >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void tu_small_neox_config(struct mlsae_neox_config *mc, int hidden, int intermediate,
                          int max_positions)
{
    memset(mc, 0, sizeof *mc);
    mc->hidden_size = hidden;
    mc->n_layers = 2;
    mc->n_heads = 2;
    mc->intermediate_size = intermediate;
    mc->vocab_size = 50304;
    mc->max_positions = max_positions;
    mc->rotary_pct = 0.25;
    mc->rotary_base = 10000;
    mc->layer_norm_eps = 1e-5;
    mc->use_parallel_residual = 1;
    mc->attention_bias = 1;
    mc->pad_token_id = -1;
}
