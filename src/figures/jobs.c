#include "config.h"
#include "core/json_file.h"
#include "figures/jobs.h"
#include "core/paths.h"
#include "figures/prompt_heatmap.h"
#include "figures/tables.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const kind_names[MLSAE_FIG_N_KINDS] = {
    "dists-heatmap", "dists-histogram", "dists-cos-sim", "dists-layer-std", "mmcs",
    "embed-cos-sim", "resid-cos-sim",   "test-summary",  "train-curves",    "prompt-heatmap",
};

const char *mlsae_fig_kind_name(mlsae_fig_kind k)
{
    return k >= 0 && k < MLSAE_FIG_N_KINDS ? kind_names[k] : "?";
}

int mlsae_fig_kind_parse(const char *name)
{
    for (int k = 0; k < MLSAE_FIG_N_KINDS; k++)
        if (strcmp(name, kind_names[k]) == 0) return k;
    return -1;
}

void mlsae_fig_jobs_free(mlsae_fig_job *jobs, int n)
{
    for (int i = 0; i < n && jobs; i++) free(jobs[i].missing);
    free(jobs);
}

static void lack(mlsae_fig_job *j, const char *fmt, const char *a, const char *b)
{
    char item[2048];
    snprintf(item, sizeof item, fmt, a, b ? b : "");
    size_t old = j->missing ? strlen(j->missing) : 0, add = strlen(item);
    char *s = realloc(j->missing, old + add + 3);
    if (!s) return;
    if (old) memcpy(s + old, "; ", 2), old += 2;
    memcpy(s + old, item, add + 1);
    j->missing = s;
}

static void set_base(mlsae_fig_job *j, const char *out, const char *stem)
{
    if (mlsae_path_join(j->base, sizeof j->base, out, stem) != 0) j->base[0] = '\0';
}

static void need_dists(mlsae_fig_job *j, const mlsae_fig_sae *e)
{
    if (!e->dists)
        lack(j, "%s-dists.safetensors (run mlsae dists; looked for %s)", e->name,
             e->dists_looked ? e->dists_looked : "?");
}

/* the test CSV of an SAE: OUT/test_NAME.csv or OUT/test_NAME-tfm.csv */
static int find_test_csv(const char *out, const mlsae_fig_sae *e, char *path, size_t n)
{
    char file[600];
    snprintf(file, sizeof file, "test_%s.csv", e->name);
    if (mlsae_path_join(path, n, out, file) == 0 && mlsae_is_file(path)) return 1;
    snprintf(file, sizeof file, "test_%s.csv", e->name_tfm);
    if (mlsae_path_join(path, n, out, file) == 0 && mlsae_is_file(path)) return 1;
    snprintf(file, sizeof file, "test_%s.csv", e->name);
    mlsae_path_join(path, n, out, file);
    return 0;
}

/* The transformer of an SAE: the sweep's model_name, else the -tfm
 * checkpoint's config.json model_name (and its layers into cfg). */
static int model_of_sae(const mlsae_fig_sae *e, char *model, size_t n, mlsae_run_config *cfg)
{
    model[0] = '\0';
    if (e->model_name[0]) snprintf(model, n, "%s", e->model_name);
    char *path = e->checkpoint ? mlsae_path_join_new(e->checkpoint, "config.json") : NULL;
    mlsae_error err;
    json_t *root = path ? mlsae_json_read_file(path, 0, NULL, &err) : NULL;
    free(path);
    json_t *v = json_object_get(root, "model_name");
    if (!model[0] && json_is_string(v)) snprintf(model, n, "%s", json_string_value(v));
    json_t *layers = json_object_get(root, "layers");
    if (cfg && json_is_array(layers) && json_array_size(layers) > 0 &&
        json_array_size(layers) <= MLSAE_CONFIG_MAX_LAYERS) {
        size_t i;
        json_t *x;
        cfg->n_layers = 0;
        json_array_foreach(layers, i, x) if (json_is_integer(x))
            cfg->layers[cfg->n_layers++] = (int)json_integer_value(x);
    }
    v = json_object_get(root, "skip_special_tokens");
    if (cfg && json_is_boolean(v)) cfg->autoencoder.skip_special_tokens = json_is_true(v);
    json_decref(root);
    return model[0] != '\0';
}

static int add(mlsae_fig_job **jobs, int *n, int *cap, mlsae_fig_kind k, int sae)
{
    if (*n == *cap) {
        int c = *cap ? *cap * 2 : 16;
        mlsae_fig_job *p = realloc(*jobs, (size_t)c * sizeof *p);
        if (!p) return -1;
        *jobs = p, *cap = c;
    }
    mlsae_fig_job *j = &(*jobs)[(*n)++];
    memset(j, 0, sizeof *j);
    j->kind = k;
    j->sae = sae;
    return 0;
}

int mlsae_fig_plan(const mlsae_fig_context *c, const int *kinds, int n_kinds,
                   mlsae_fig_job **jobs, int *n_jobs, mlsae_error *err)
{
    int all[MLSAE_FIG_N_KINDS];
    if (n_kinds == 0) {
        for (int k = 0; k < MLSAE_FIG_N_KINDS; k++) all[k] = k;
        kinds = all, n_kinds = MLSAE_FIG_N_KINDS;
    }
    *jobs = NULL;
    *n_jobs = 0;
    int cap = 0;
    const char *out = c->out_dir;
    for (int q = 0; q < n_kinds; q++) {
        mlsae_fig_kind k = (mlsae_fig_kind)kinds[q];
        char stem[1024];
        switch (k) {
        case MLSAE_FIG_DISTS_HEATMAP:
        case MLSAE_FIG_DISTS_HISTOGRAM:
        case MLSAE_FIG_DISTS_COS_SIM:
            for (int i = 0; i < c->n_saes; i++) {
                const mlsae_fig_sae *e = &c->saes[i];
                if (add(jobs, n_jobs, &cap, k, i)) goto oom;
                mlsae_fig_job *j = &(*jobs)[*n_jobs - 1];
                if (k == MLSAE_FIG_DISTS_HEATMAP)
                    snprintf(stem, sizeof stem, "dists_heatmap_%s", e->name_tfm);
                else if (k == MLSAE_FIG_DISTS_HISTOGRAM)
                    snprintf(stem, sizeof stem, "dists_histogram_%s%s",
                             c->noninteger ? "noninteger_" : "", e->name_tfm);
                else
                    snprintf(stem, sizeof stem, "dists_cos_sim_heatmap_%s", e->name);
                set_base(j, out, stem);
                need_dists(j, e);
                if (k == MLSAE_FIG_DISTS_COS_SIM && !e->checkpoint)
                    lack(j, "checkpoint of %s (looked in %s)", e->name,
                         e->checkpoint_looked ? e->checkpoint_looked : "?");
            }
            break;
        case MLSAE_FIG_DISTS_LAYER_STD:
        case MLSAE_FIG_MMCS:
        case MLSAE_FIG_EMBED_COS_SIM:
        case MLSAE_FIG_TEST_SUMMARY: {
            if (c->n_saes == 0) break;
            if (add(jobs, n_jobs, &cap, k, -1)) goto oom;
            mlsae_fig_job *j = &(*jobs)[*n_jobs - 1];
            const char *in = k == MLSAE_FIG_MMCS ? "mmcs.csv"
                             : k == MLSAE_FIG_EMBED_COS_SIM ? "embed_cos_sim.csv" : NULL;
            set_base(j, out, k == MLSAE_FIG_DISTS_LAYER_STD ? "dists_layer_std"
                             : k == MLSAE_FIG_MMCS          ? "mmcs_sweep"
                             : k == MLSAE_FIG_EMBED_COS_SIM ? "embed_cos_sim_sweep"
                                                            : "test");
            if (in) {
                mlsae_path_join(j->input, sizeof j->input, out, in);
                int miss = -1;
                if (!mlsae_is_file(j->input))
                    lack(j, "%s (run mlsae %s)", j->input,
                         k == MLSAE_FIG_MMCS ? "mmcs" : "embed-cos-sim");
                else if ((miss = mlsae_fig_sweep_first_missing(j->input, c->saes, c->n_saes)) >=
                         0) {
                    char what[4800];
                    snprintf(what, sizeof what, "the row of %s in %s", c->saes[miss].name,
                             j->input);
                    lack(j, "%s (run mlsae %s with its --model_name)", what,
                         k == MLSAE_FIG_MMCS ? "mmcs" : "embed-cos-sim");
                }
            }
            for (int i = 0; i < c->n_saes; i++) {
                const mlsae_fig_sae *e = &c->saes[i];
                if (k == MLSAE_FIG_DISTS_LAYER_STD) need_dists(j, e);
                if (k == MLSAE_FIG_TEST_SUMMARY) {
                    char path[4096];
                    if (!find_test_csv(out, e, path, sizeof path))
                        lack(j, "%s (run mlsae test --checkpoint ... --csv %s)", path, path);
                }
                if ((k == MLSAE_FIG_MMCS || k == MLSAE_FIG_EMBED_COS_SIM) &&
                    !(e->expansion_factor && e->k))
                    lack(j, "%s: expansion factor and k (the name does not say them)", e->name,
                         NULL);
            }
            break;
        }
        case MLSAE_FIG_RESID_COS_SIM: {
            /* one figure per model of the sweep */
            for (int i = 0; i < c->n_saes; i++) {
                const mlsae_fig_sae *e = &c->saes[i];
                if (!e->model_name[0]) continue;
                const char *m = strrchr(e->model_name, '/');
                m = m ? m + 1 : e->model_name;
                snprintf(stem, sizeof stem, "resid_cos_sim_%s%s", e->tuned_lens ? "lens_" : "",
                         m);
                char base[4096];
                if (mlsae_path_join(base, sizeof base, out, stem) != 0) base[0] = '\0';
                int dup = 0;
                for (int p = 0; p < *n_jobs && !dup; p++)
                    dup = (*jobs)[p].kind == k && strcmp((*jobs)[p].base, base) == 0;
                if (dup) continue;
                if (add(jobs, n_jobs, &cap, k, i)) goto oom;
                mlsae_fig_job *j = &(*jobs)[*n_jobs - 1];
                set_base(j, out, stem);
                snprintf(j->input, sizeof j->input, "%s.csv", j->base);
                if (!mlsae_is_file(j->input))
                    lack(j, "%s (run mlsae resid-cos-sim --model_name %s)", j->input,
                         e->model_name);
            }
            break;
        }
        case MLSAE_FIG_PROMPT_HEATMAP:
            if (!c->prompt && kinds == all) break; /* loads a model: only when asked */
            for (int i = 0; i < c->n_saes; i++) {
                const mlsae_fig_sae *e = &c->saes[i];
                if (add(jobs, n_jobs, &cap, k, i)) goto oom;
                mlsae_fig_job *j = &(*jobs)[*n_jobs - 1];
                snprintf(stem, sizeof stem, "prompt_heatmap_%s", e->name_tfm);
                set_base(j, out, stem);
                char model[512];
                if (!e->checkpoint)
                    lack(j, "checkpoint of %s (looked in %s)", e->name,
                         e->checkpoint_looked ? e->checkpoint_looked : "?");
                else if (!model_of_sae(e, model, sizeof model, NULL))
                    lack(j, "the model of %s (a plain checkpoint: give --model_name)", e->name,
                         NULL);
            }
            break;
        case MLSAE_FIG_TRAIN_CURVES: {
            if (!c->metrics && n_kinds == MLSAE_FIG_N_KINDS && kinds == all) {
                /* every kind: only when the default file is there */
                char path[4096];
                if (mlsae_path_join(path, sizeof path, out, "metrics.jsonl") != 0 ||
                    !mlsae_is_file(path))
                    break;
            }
            if (add(jobs, n_jobs, &cap, k, -1)) goto oom;
            mlsae_fig_job *j = &(*jobs)[*n_jobs - 1];
            set_base(j, out, "train_curves");
            if (c->metrics) snprintf(j->input, sizeof j->input, "%s", c->metrics);
            else mlsae_path_join(j->input, sizeof j->input, out, "metrics.jsonl");
            if (!mlsae_is_file(j->input))
                lack(j, access(j->input, F_OK) == 0
                            ? "%s as a regular file (it is a directory or a special file)"
                            : "%s (mlsae train writes OUT/metrics.jsonl; or --metrics FILE)",
                     j->input, NULL);
            break;
        }
        default:
            break;
        }
    }
    return 0;
oom:
    mlsae_fig_jobs_free(*jobs, *n_jobs);
    *jobs = NULL, *n_jobs = 0;
    return mlsae_fail(err, "out of memory");
}

int mlsae_fig_prompt_for_sae(mlsae_fig_context *c, const mlsae_fig_sae *e, const char *base,
                             const mlsae_fig_opts *o, mlsae_error *err)
{
    mlsae_run_config *cfg = malloc(sizeof *cfg);
    if (!cfg) return mlsae_fail(err, "out of memory");
    mlsae_run_config_defaults(cfg);
    char model[512];
    if (!e->checkpoint || !model_of_sae(e, model, sizeof model, cfg)) {
        free(cfg);
        return mlsae_fail(err, "%s: prompt-heatmap needs the checkpoint and its model "
                          "(--model_name for a plain checkpoint)", e->name);
    }
    snprintf(cfg->model_name, sizeof cfg->model_name, "%s", model);
    const char *dev = c->device ? c->device : "cpu";
    snprintf(cfg->device, sizeof cfg->device, "%s", dev);
    snprintf(cfg->model_device, sizeof cfg->model_device, "%s", dev);
    mlsae_prompt_probs p;
    int rc = mlsae_prompt_probs_compute(cfg, e->checkpoint,
                                        c->prompt ? c->prompt : MLSAE_DEFAULT_PROMPT,
                                        c->dead_threshold, &p, err);
    free(cfg);
    if (rc == 0) {
        rc = mlsae_fig_prompt_heatmap(&p, e->name, base, o, err);
        mlsae_prompt_probs_free(&p);
    }
    return rc;
}

static int run_cos_sim(mlsae_fig_context *c, const mlsae_fig_sae *e, const mlsae_dists_file *d,
                       const char *base, mlsae_error *err)
{
    if (!c->be) {
        mlsae_backend_params params = {.n_threads = 0, .device_index = -1};
        if (mlsae_backend_open(c->device ? c->device : "cpu", &params, &c->be, err) != 0)
            return -1;
    }
    float *dec;
    int d_model;
    if (mlsae_fig_read_decoder(e->checkpoint, d->n_latents, &dec, &d_model, err) != 0) return -1;
    int rc = mlsae_fig_dists_cos_sim(d, dec, d_model, c->be, e->name, base, &c->opts, err);
    free(dec);
    return rc;
}

int mlsae_fig_run(mlsae_fig_context *c, const mlsae_fig_job *j, mlsae_error *err)
{
    if (j->missing) return mlsae_fail(err, "%s: missing %s", kind_names[j->kind], j->missing);
    const mlsae_fig_sae *e = j->sae >= 0 ? &c->saes[j->sae] : NULL;
    switch (j->kind) {
    case MLSAE_FIG_DISTS_HEATMAP:
    case MLSAE_FIG_DISTS_HISTOGRAM:
    case MLSAE_FIG_DISTS_COS_SIM: {
        mlsae_dists_file d;
        if (mlsae_dists_file_load(e->dists, &d, err) != 0) return -1;
        int rc = j->kind == MLSAE_FIG_DISTS_HEATMAP
                     ? mlsae_fig_dists_heatmap(&d, e->name, j->base, &c->opts, err)
                 : j->kind == MLSAE_FIG_DISTS_HISTOGRAM
                     ? mlsae_fig_dists_histogram(&d, c->noninteger, e->name, j->base, &c->opts,
                                                 err)
                     : run_cos_sim(c, e, &d, j->base, err);
        mlsae_dists_file_free(&d);
        return rc;
    }
    case MLSAE_FIG_DISTS_LAYER_STD:
        return mlsae_fig_dists_layer_std(c->saes, c->n_saes, j->base, &c->opts, err);
    case MLSAE_FIG_MMCS: {
        const char *m[1] = {"mean"}, *s[1] = {"sem"};
        return mlsae_fig_sweep_rows(j->input, c->saes, c->n_saes, m, s, 1,
                                    "MMCS of decoder columns (mean +- sem)",
                                    j->base, &c->opts, err);
    }
    case MLSAE_FIG_EMBED_COS_SIM: {
        const char *m[2] = {"in_mean", "out_mean"}, *s[2] = {"in_sem", "out_sem"};
        return mlsae_fig_sweep_rows(j->input, c->saes, c->n_saes, m, s, 2,
                                    "Embedding cosine similarity (mean +- sem)",
                                    j->base, &c->opts, err);
    }
    case MLSAE_FIG_RESID_COS_SIM: {
        char title[512];
        snprintf(title, sizeof title, "Adjacent-layer residual cosine similarity: %s%s",
                 e->model_name, e->tuned_lens ? " (tuned lens)" : "");
        return mlsae_fig_resid_cos_sim(j->input, title, j->base, &c->opts, err);
    }
    case MLSAE_FIG_TEST_SUMMARY: {
        char (*paths)[4096] = malloc(((size_t)c->n_saes + 1) * sizeof *paths);
        const char **ptrs = malloc(((size_t)c->n_saes + 1) * sizeof *ptrs);
        int rc = -1;
        if (!paths || !ptrs) {
            mlsae_fail(err, "out of memory");
        } else {
            for (int i = 0; i < c->n_saes; i++) {
                find_test_csv(c->out_dir, &c->saes[i], paths[i], sizeof paths[i]);
                ptrs[i] = paths[i];
            }
            rc = mlsae_fig_test_summary(ptrs, c->saes, c->n_saes, j->base, &c->opts, err);
        }
        free(paths), free(ptrs);
        return rc;
    }
    case MLSAE_FIG_TRAIN_CURVES:
        return mlsae_fig_train_curves(j->input, NULL, j->base, &c->opts, err);
    case MLSAE_FIG_PROMPT_HEATMAP:
        return mlsae_fig_prompt_for_sae(c, e, j->base, &c->opts, err);
    default:
        return mlsae_fail(err, "unknown figure kind");
    }
}
