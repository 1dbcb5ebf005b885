#include "config.h"
#include "figures/sweep.h"
#include "core/paths.h"
#include "hub/hub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ORG "tim-lawson"

void mlsae_fig_repo_id(char *out, size_t n, const char *model_name, int expansion_factor,
                       int k, int transformer, int tuned_lens)
{
    const char *slash = strrchr(model_name, '/');
    snprintf(out, n, ORG "/mlsae-%s-x%d-k%d%s%s", slash ? slash + 1 : model_name,
             expansion_factor, k, tuned_lens ? "-lens" : "", transformer ? "-tfm" : "");
}

void mlsae_fig_saes_free(mlsae_fig_sae *saes, int n)
{
    for (int i = 0; i < n; i++) {
        free(saes[i].checkpoint);
        free(saes[i].checkpoint_looked);
        free(saes[i].dists);
        free(saes[i].dists_looked);
    }
    free(saes);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Append "item" to a "; "-separated malloc'd list. */
static void note(char **list, const char *item)
{
    size_t a = *list ? strlen(*list) : 0, b = strlen(item);
    char *s = realloc(*list, a + b + 3);
    if (!s) return;
    if (a) memcpy(s + a, ", ", 2), a += 2;
    memcpy(s + a, item, b + 1);
    *list = s;
}

static void try_dir(mlsae_fig_sae *e, const char *dir)
{
    if (e->checkpoint) return;
    char *cfg = mlsae_path_join_new(dir, "config.json");
    if (cfg && mlsae_is_file(cfg)) e->checkpoint = strdup(dir);
    else note(&e->checkpoint_looked, dir);
    free(cfg);
}

static void try_cache(mlsae_fig_sae *e, const char *repo_id)
{
    if (e->checkpoint) return;
    char *dir = NULL;
    mlsae_error ignore;
    if (mlsae_hub_find_cached(repo_id, &dir, NULL, &ignore) == 0) {
        e->checkpoint = dir;
        return;
    }
    char what[400];
    snprintf(what, sizeof what, "%s in the HF cache", repo_id);
    note(&e->checkpoint_looked, what);
}

static void try_dists(mlsae_fig_sae *e, const char *dir, const char *prefix, const char *name)
{
    if (e->dists || !dir) return;
    char file[600];
    snprintf(file, sizeof file, "%s%s-dists.safetensors", prefix, name);
    char *path = mlsae_path_join_new(dir, file);
    if (!path) return;
    if (mlsae_is_file(path)) e->dists = path;
    else note(&e->dists_looked, path), free(path);
}

/* "mlsae-<model>-x<E>-k<K>..." -> E, K (0 when the name does not say). */
static void parse_name(mlsae_fig_sae *e)
{
    const char *s = e->name;
    for (const char *p = strstr(s, "-x"); p; p = strstr(p + 1, "-x")) {
        int E, K, used = 0;
        if (sscanf(p, "-x%d-k%d%n", &E, &K, &used) == 2 && used > 0) {
            e->expansion_factor = E, e->k = K;
            break;
        }
    }
    e->tuned_lens = strstr(s, "-lens") != NULL;
}

int mlsae_fig_sweep_resolve(const mlsae_fig_sweep *s, mlsae_fig_sae **saes, int *n,
                            mlsae_error *err)
{
    int total = s->n_checkpoints + s->n_model_names * s->n_expansion_factors * s->n_ks;
    *saes = calloc(total ? (size_t)total : 1, sizeof **saes);
    *n = 0;
    if (!*saes) return mlsae_fail(err, "out of memory");
    for (int i = 0; i < s->n_checkpoints; i++) {
        mlsae_fig_sae *e = &(*saes)[(*n)++];
        const char *arg = s->checkpoints[i];
        char clean[4096];
        snprintf(clean, sizeof clean, "%s", arg);
        size_t len = strlen(clean);
        while (len > 1 && clean[len - 1] == '/') clean[--len] = '\0';
        const char *slash = strrchr(clean, '/');
        snprintf(e->name, sizeof e->name, "%s", slash ? slash + 1 : clean);
        snprintf(e->name_tfm, sizeof e->name_tfm, "%s", e->name);
        parse_name(e);
        /* --model_name without a sweep names the checkpoints' model */
        if (s->n_model_names == 1 && !(s->n_expansion_factors && s->n_ks))
            snprintf(e->model_name, sizeof e->model_name, "%s", s->model_names[0]);
        if (mlsae_is_dir(clean)) try_dir(e, clean);
        else if (slash && !mlsae_path_exists(clean)) try_cache(e, clean);
        else note(&e->checkpoint_looked, clean);
        char stem[256];
        snprintf(stem, sizeof stem, "%s", e->name);
        if (ends_with(stem, "-tfm")) stem[strlen(stem) - 4] = '\0';
        if (ends_with(stem, "-dists")) stem[strlen(stem) - 6] = '\0';
        try_dists(e, s->out_dir, "", stem);
        try_dists(e, s->checkpoints_dir, "", stem);
    }
    for (int m = 0; m < s->n_model_names && s->n_expansion_factors && s->n_ks; m++)
        for (int x = 0; x < s->n_expansion_factors; x++)
            for (int q = 0; q < s->n_ks; q++) {
                mlsae_fig_sae *e = &(*saes)[(*n)++];
                char repo[512], repo_tfm[512];
                mlsae_fig_repo_id(repo, sizeof repo, s->model_names[m], s->expansion_factors[x],
                                  s->ks[q], 0, s->tuned_lens);
                mlsae_fig_repo_id(repo_tfm, sizeof repo_tfm, s->model_names[m],
                                  s->expansion_factors[x], s->ks[q], 1, s->tuned_lens);
                snprintf(e->name, sizeof e->name, "%s", strchr(repo, '/') + 1);
                snprintf(e->name_tfm, sizeof e->name_tfm, "%s", strchr(repo_tfm, '/') + 1);
                snprintf(e->model_name, sizeof e->model_name, "%s", s->model_names[m]);
                e->expansion_factor = s->expansion_factors[x];
                e->k = s->ks[q];
                e->tuned_lens = s->tuned_lens;
                if (s->checkpoints_dir) {
                    char *a = mlsae_path_join_new(s->checkpoints_dir, e->name);
                    char *b = mlsae_path_join_new(s->checkpoints_dir, e->name_tfm);
                    if (a) try_dir(e, a);
                    if (b) try_dir(e, b);
                    free(a), free(b);
                }
                try_cache(e, repo);
                try_cache(e, repo_tfm);
                try_dists(e, s->out_dir, "", e->name);
                try_dists(e, s->out_dir, ORG "-", e->name);
                try_dists(e, s->checkpoints_dir, "", e->name);
            }
    return 0;
}
