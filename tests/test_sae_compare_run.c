/* Helper of tests/test_train_activations.sh: compares the output directory
 * of `mlsae train` with the training run of an oracle fixture
 * (tests/gen/gen_sae.py): the weights of OUT_DIR/checkpoints/last after the
 * run (2e-5 relative, see test_sae_oracle.c), last_nonzero (exact) and the
 * losses of every training row of OUT_DIR/metrics.jsonl against the
 * oracle's losses of that row's micro-batch (1e-4 relative); the last row
 * must be the oracle's last micro-batch.
 * Usage: test_sae_compare_run OUT_DIR ORACLE.safetensors; exit 0 when equal. */
#include "config.h"
#include "testutil.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/safetensors.h"

static float *read_all(mlsae_safetensors *st, const char *name, size_t *n)
{
    const mlsae_st_tensor *t = mlsae_st_find(st, name);
    mlsae_error err;
    if (!t) {
        fprintf(stderr, "%s: no tensor %s\n", mlsae_st_path(st), name);
        exit(1);
    }
    float *v = malloc((size_t)t->numel * 4);
    if (v && t->dtype == MLSAE_DT_I64) { /* counters, small enough to be exact in float */
        int64_t *iv = malloc((size_t)t->numel * 8);
        if (!iv || mlsae_st_read_i64(st, name, t->ndim, t->shape, iv, &err)) {
            fprintf(stderr, "%s\n", iv ? err.msg : "out of memory");
            exit(1);
        }
        for (int64_t i = 0; i < t->numel; i++) v[i] = (float)iv[i];
        free(iv);
        *n = (size_t)t->numel;
        return v;
    }
    if (!v || mlsae_st_read_f32(st, name, t->ndim, t->shape, v, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    *n = (size_t)t->numel;
    return v;
}

static void compare(mlsae_safetensors *a, const char *an, mlsae_safetensors *b, const char *bn,
                    double tol)
{
    size_t na, nb;
    float *x = read_all(a, an, &na), *y = read_all(b, bn, &nb);
    CHECKF(na == nb, "%s: %zu elements, %s: %zu", an, na, bn, nb);
    if (na == nb) CHECK_REL(x, y, na, tol, an);
    free(x);
    free(y);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_sae_compare_run OUT_DIR ORACLE.safetensors\n");
        return 2;
    }
    char path[4096];
    mlsae_safetensors *out, *ref;
    mlsae_error err;
    snprintf(path, sizeof path, "%s/checkpoints/last/model.safetensors", argv[1]);
    if (mlsae_st_open(path, &out, &err) || mlsae_st_open(argv[2], &ref, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    compare(out, "encoder.weight", ref, "train.enc", 2e-5);
    compare(out, "decoder.weight", ref, "train.dec", 2e-5);
    compare(out, "pre_encoder_bias", ref, "train.bias", 2e-5);
    compare(out, "last_nonzero", ref, "train.last_nonzero", 0.5); /* integers: exact */
    size_t nl;
    float *losses = read_all(ref, "train.losses", &nl); /* [n, 4]: total, mse, aux, dead */
    snprintf(path, sizeof path, "%s/metrics.jsonl", argv[1]);
    FILE *fp = fopen(path, "r");
    CHECKF(fp != NULL, "cannot open %s", path);
    char line[4096];
    size_t i = 0;
    json_int_t last_mb = 0;
    float got[64], want[64];
    while (fp && fgets(line, sizeof line, fp) && i < 16) {
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        CHECKF(o != NULL, "%s line %zu: %s", path, i + 1, je.text);
        if (!o) break;
        json_int_t mb = json_integer_value(json_object_get(o, "micro_batch"));
        if (!json_object_get(o, "loss/total")) { /* not a training row */
            json_decref(o);
            continue;
        }
        CHECKF(mb >= 1 && (size_t)mb <= nl / 4 && mb > last_mb, "row %zu: micro_batch %lld",
               i + 1, (long long)mb);
        if (mb < 1 || (size_t)mb > nl / 4) {
            json_decref(o);
            break;
        }
        size_t r = (size_t)mb - 1;
        got[3 * i] = (float)json_number_value(json_object_get(o, "loss/total"));
        got[3 * i + 1] = (float)json_number_value(json_object_get(o, "loss/mse"));
        got[3 * i + 2] = (float)json_number_value(json_object_get(o, "loss/auxk"));
        for (int j = 0; j < 3; j++) want[3 * i + j] = losses[4 * r + j];
        double dead = json_number_value(json_object_get(o, "train/dead/abs"));
        CHECKF(fabs(dead - losses[4 * r + 3]) < 1e-6, "micro-batch %zu dead %g vs %g", r + 1,
               dead, losses[4 * r + 3]);
        last_mb = mb;
        json_decref(o);
        i++;
    }
    if (fp) fclose(fp);
    CHECKF(i > 0 && (size_t)last_mb == nl / 4, "metrics.jsonl: %zu training rows, the last at "
           "micro-batch %lld, expected one at %zu", i, (long long)last_mb, nl / 4);
    CHECK_REL(got, want, 3 * i, 1e-4, "metrics.jsonl losses");
    free(losses);
    mlsae_st_close(out);
    mlsae_st_close(ref);
    return tu_finish("test_sae_compare_run");
}
