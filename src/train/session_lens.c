/* Finding and loading the tuned lens of a run (see session.h). */
#include "config.h"
#include "train/session.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic_file.h"
#include "core/paths.h"
#include "core/safetensors.h"
#include "model/hub.h"

/* Where the tuned-lens package keeps downloaded lenses: the hub cache's
 * Space AlignmentResearch/tuned-lens, files lens/<model name>/{config.json,
 * params.pt} (tuned_lens/load_artifacts.py). */
#define LENS_SPACE "spaces--AlignmentResearch--tuned-lens"

/* {cache}/LENS_SPACE/snapshots/<refs/main>/lens/<model_name> (malloc'd), or
 * NULL when the Space is not cached. */
static char *cached_lens_dir(const char *model_name)
{
    char *cache = mlsae_hub_cache_dir(), *ref = NULL, *out = NULL;
    size_t n = 0;
    mlsae_error ignore;
    char path[8192];
    if (!cache) return NULL;
    snprintf(path, sizeof path, "%s/%s/refs/main", cache, LENS_SPACE);
    if (mlsae_read_file(path, &ref, &n, &ignore) == 0) {
        while (n && isspace((unsigned char)ref[n - 1])) ref[--n] = 0;
        if (n && !strchr(ref, '/') && !strstr(ref, "..")) {
            snprintf(path, sizeof path, "%s/%s/snapshots/%s/lens/%s", cache, LENS_SPACE, ref,
                     model_name);
            if (mlsae_is_dir(path)) out = strdup(path);
        }
    }
    free(ref);
    free(cache);
    return out;
}

int mlsae_session_load_lens(mlsae_session *s, const mlsae_run_config *cfg, const char *ckpt_dir,
                            mlsae_error *err)
{
    if (!cfg->autoencoder.tuned_lens) {
        if (cfg->lens[0])
            return mlsae_fail(err, "lens '%s' is given but autoencoder.tuned_lens is false",
                              cfg->lens);
        return 0;
    }
    s->lens_inverse = strcmp(cfg->lens_inverse, "exact") == 0 ? MLSAE_LENS_INVERSE_EXACT
                                                             : MLSAE_LENS_INVERSE_REFERENCE;
    mlsae_lens_free(s->lens);
    s->lens = NULL;
    if (ckpt_dir) {
        /* a -lens-tfm checkpoint stores its translators: they win, as in the reference */
        mlsae_safetensors *st = NULL;
        mlsae_error ignore;
        if (mlsae_st_open(ckpt_dir, &st, &ignore) == 0) {
            int rc = mlsae_lens_load_tensors(st, "lens.layer_translators.", s->d_model, s->be,
                                             &s->lens, err);
            mlsae_st_close(st);
            if (rc) return -1;
        }
    }
    if (!s->lens && cfg->lens[0] && mlsae_lens_load_dir(cfg->lens, s->be, &s->lens, err))
        return -1;
    if (!s->lens) {
        char *dir = cached_lens_dir(cfg->model_name);
        int rc = dir ? mlsae_lens_load_dir(dir, s->be, &s->lens, err) : 0;
        free(dir);
        if (rc) return -1;
    }
    if (!s->lens) {
        char *cache = mlsae_hub_cache_dir();
        mlsae_fail(err, "autoencoder.tuned_lens is true but there is no lens: give --lens DIR (a "
                   "TunedLens.save directory: config.json + params.pt) or put the tuned-lens "
                   "package's lens for %s in %s/%s/snapshots/<commit>/lens/%s/ (with refs/main)",
                   cfg->model_name, cache ? cache : "$HF_HUB_CACHE", LENS_SPACE, cfg->model_name);
        free(cache);
        return -1;
    }
    if (mlsae_lens_d_model(s->lens) != s->d_model || mlsae_lens_n_translators(s->lens) < s->n_layers) {
        mlsae_fail(err, "%s: a lens of %d translators of size %d does not fit %d selected layers "
                   "of d_model %d", mlsae_lens_source(s->lens), mlsae_lens_n_translators(s->lens),
                   mlsae_lens_d_model(s->lens), s->n_layers, s->d_model);
        mlsae_lens_free(s->lens);
        s->lens = NULL;
        return -1;
    }
    return 0;
}
