/* Whether several SAE checkpoints can be tested in one pass (evaluate.h,
 * mlsae_test_check_targets): one transformer, one lens and one stream of
 * batches serve them all, so everything that shapes those must agree. */
#include "config.h"
#include "eval/evaluate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/paths.h"
#include "core/safetensors.h"

/* The autoencoder's own options may differ (its sizes come from its
 * checkpoint, dead_tokens_threshold is its own); these two of its section
 * shape the activations every SAE sees. */
static int per_sae(const char *key)
{
    return strncmp(key, "autoencoder.", 12) == 0 &&
           strcmp(key, "autoencoder.skip_special_tokens") != 0 &&
           strcmp(key, "autoencoder.tuned_lens") != 0;
}

/* The tensors named prefix* of two checkpoints' model.safetensors: 0 when
 * the same (names, dtypes, shapes, bytes; both may have none), 1 when not
 * (what names the first difference), -1 when a file cannot be read. */
static int differ_in(const char *dir_a, const char *dir_b, const char *prefix, char *what,
                     size_t n, mlsae_error *err)
{
    char *fa = mlsae_path_join_new(dir_a, "model.safetensors");
    char *fb = mlsae_path_join_new(dir_b, "model.safetensors");
    mlsae_safetensors *a = NULL, *b = NULL;
    int rc = -1;
    if (!fa || !fb) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    if (mlsae_st_open(fa, &a, err) || mlsae_st_open(fb, &b, err)) goto done;
    const size_t plen = strlen(prefix);
    size_t in_a = 0, in_b = 0;
    rc = 0;
    for (size_t i = 0; i < mlsae_st_count(b); i++)
        in_b += strncmp(mlsae_st_at(b, i)->name, prefix, plen) == 0;
    for (size_t i = 0; i < mlsae_st_count(a) && !rc; i++) {
        const mlsae_st_tensor *ta = mlsae_st_at(a, i);
        if (strncmp(ta->name, prefix, plen) != 0) continue;
        in_a++;
        const mlsae_st_tensor *tb = mlsae_st_find(b, ta->name);
        if (!tb || tb->dtype != ta->dtype || tb->ndim != ta->ndim || tb->nbytes != ta->nbytes ||
            memcmp(tb->shape, ta->shape, (size_t)ta->ndim * sizeof *ta->shape) != 0 ||
            memcmp(tb->data, ta->data, ta->nbytes) != 0) {
            snprintf(what, n, "%s", ta->name);
            rc = 1;
        }
    }
    if (!rc && in_a != in_b) {
        snprintf(what, n, "%s* (%zu vs %zu tensors)", prefix, in_a, in_b);
        rc = 1;
    }
done:
    mlsae_st_close(a);
    mlsae_st_close(b);
    free(fa);
    free(fb);
    return rc;
}

int mlsae_test_check_targets(const mlsae_test_target *targets, int n, mlsae_error *err)
{
    size_t count;
    const mlsae_option *opts = mlsae_run_config_options(&count);
    const mlsae_test_target *first = &targets[0];
    for (int i = 1; i < n; i++) {
        const mlsae_test_target *t = &targets[i];
        for (int j = 0; j < i; j++)
            if (strcmp(targets[j].csv_path, t->csv_path) == 0)
                return mlsae_fail(err, "checkpoints %s and %s: both would write %s",
                                  targets[j].sae_dir, t->sae_dir, t->csv_path);
        for (size_t o = 0; o < count; o++) {
            if (per_sae(opts[o].key) || mlsae_run_config_option_equal(first->cfg, t->cfg, &opts[o]))
                continue;
            char va[256], vb[256];
            mlsae_run_config_value_text(first->cfg, &opts[o], va, sizeof va);
            mlsae_run_config_value_text(t->cfg, &opts[o], vb, sizeof vb);
            return mlsae_fail(err, "checkpoints %s and %s are not of the same model and run: %s "
                              "is %s vs %s (one pass tests SAEs of one model)", first->sae_dir,
                              t->sae_dir, opts[o].key, va, vb);
        }
        /* what the pass loads from the first checkpoint only */
        static const char *const prefixes[] = {"transformer.model.", "lens.layer_translators."};
        for (size_t k = 0; k < sizeof prefixes / sizeof prefixes[0]; k++) {
            char what[600];
            int d = differ_in(first->sae_dir, t->sae_dir, prefixes[k], what, sizeof what, err);
            if (d < 0) return -1;
            if (d)
                return mlsae_fail(err, "checkpoints %s and %s are not of the same model: their "
                                  "tensor %s differs (one pass runs one transformer and lens)",
                                  first->sae_dir, t->sae_dir, what);
        }
    }
    return 0;
}
