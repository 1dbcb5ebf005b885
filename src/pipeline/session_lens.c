/* Finding and loading the tuned lens of a run (see session.h). */
#include "config.h"
#include "pipeline/session.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic_file.h"
#include "core/paths.h"
#include "core/safetensors.h"
#include "hub/hub.h"

/* Where the tuned-lens package keeps its lenses (tuned_lens/load_artifacts.py,
 * load_lens_artifacts): the repository $TUNED_LENS_REPO_ID (default the
 * Space AlignmentResearch/tuned-lens; type $TUNED_LENS_REPO_TYPE, default
 * space), files lens/<model name>/config.json and params.pt. */
static const char *lens_repo(void)
{
    const char *v = getenv("TUNED_LENS_REPO_ID");
    return v && *v ? v : "AlignmentResearch/tuned-lens";
}

static const char *lens_repo_type(void)
{
    const char *v = getenv("TUNED_LENS_REPO_TYPE");
    return v && *v ? v : "space";
}

/* The lens directory for model_name in the cache (refs/main -> snapshot):
 * 0 and *dir_out, 1 when not cached (*where_out: the repository's cache
 * directory), -1 on error. */
static int cached_lens_dir(const char *cache, const char *model_name, char **dir_out,
                           char **where_out, mlsae_error *err)
{
    *dir_out = *where_out = NULL;
    char *repo = mlsae_hub_repo_dir_typed(cache, lens_repo_type(), lens_repo());
    if (!repo) return mlsae_fail(err, "out of memory");
    char *ref = NULL;
    size_t n = 0;
    mlsae_error ignore;
    char path[8192];
    snprintf(path, sizeof path, "%s/refs/main", repo);
    if (mlsae_read_file(path, &ref, &n, &ignore) == 0) {
        while (n && isspace((unsigned char)ref[n - 1])) ref[--n] = 0;
        if (n && !strchr(ref, '/') && !strstr(ref, "..")) {
            snprintf(path, sizeof path, "%s/snapshots/%s/lens/%s/params.pt", repo, ref, model_name);
            if (mlsae_is_file(path)) {
                *strrchr(path, '/') = 0;
                *dir_out = strdup(path);
            }
        }
    }
    free(ref);
    if (*dir_out) {
        free(repo);
        return 0;
    }
    *where_out = repo;
    return 1;
}

/* The lens of model_name (a hub repo id) from the cache, downloaded into it
 * when missing and not offline: *dir_out, or NULL with err set. */
static int find_lens_by_name(const char *model_name, char **dir_out, mlsae_error *err)
{
    *dir_out = NULL;
    char *cache = mlsae_hub_cache_dir(), *where = NULL;
    if (!cache) return mlsae_fail(err, "out of memory");
    int rc = cached_lens_dir(cache, model_name, dir_out, &where, err);
    if (rc == 1 && mlsae_hub_offline()) {
        rc = mlsae_fail(err, "autoencoder.tuned_lens: no lens for %s in %s (lens/%s/ of refs/main's "
                        "snapshot) and HF_HUB_OFFLINE forbids downloading it: give --lens DIR (a "
                        "TunedLens.save directory: config.json + params.pt)",
                        model_name, where, model_name);
    } else if (rc == 1) {
        char cfg[4200], params[4200], *snap = NULL;
        snprintf(cfg, sizeof cfg, "lens/%.4000s/config.json", model_name);
        snprintf(params, sizeof params, "lens/%.4000s/params.pt", model_name);
        const char *files[2] = {cfg, params};
        rc = mlsae_hub_download_files(cache, lens_repo_type(), lens_repo(), "main", files, 2, &snap,
                                      err);
        if (rc) {
            mlsae_error_prefix(err, "autoencoder.tuned_lens: the lens for %s (or give --lens DIR)",
                               model_name);
        } else {
            *dir_out = mlsae_path_join_new(snap, cfg);
            if (*dir_out) *strrchr(*dir_out, '/') = 0;
            else rc = mlsae_fail(err, "out of memory");
        }
        free(snap);
    }
    free(where);
    free(cache);
    return rc ? -1 : 0;
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
        /* by the model's hub name, as the tuned-lens package does */
        if (mlsae_is_dir(cfg->model_name) || !strchr(cfg->model_name, '/'))
            return mlsae_fail(err, "autoencoder.tuned_lens is true but there is no lens: give "
                              "--lens DIR (a TunedLens.save directory: config.json + params.pt); "
                              "the model '%s' is not a hub name to find its lens by",
                              cfg->model_name);
        char *dir = NULL;
        if (find_lens_by_name(cfg->model_name, &dir, err)) return -1;
        int rc = mlsae_lens_load_dir(dir, s->be, &s->lens, err);
        free(dir);
        if (rc) return -1;
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
