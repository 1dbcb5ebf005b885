#include "config.h"
#include "analysis/run_common.h"
#include "pipeline/comm.h"

#include <stdio.h>
#include <string.h>

#include "core/atomic_file.h"

int analysis_artefact_stem(const mlsae_ckpt_source *ckpt, const char *suffix, char *out,
                           size_t n, mlsae_error *err)
{
    return mlsae_analysis_rename(ckpt->repo_id ? ckpt->repo_id : ckpt->name, suffix, out, n, err);
}

void analysis_model_of(const mlsae_run_config *cfg, const mlsae_session *s, const mlsae_sae *sae,
                       mlsae_analysis_model *m)
{
    const mlsae_sae_config *sc = mlsae_sae_get_config(sae);
    m->model_name = cfg->model_name;
    m->n_layers = s->n_layers;
    m->n_latents = sc->n_latents;
    m->expansion_factor = sc->n_latents / sc->n_inputs;
    m->k = sc->k;
}

const char *analysis_add_file(mlsae_analysis_result *res, const char *out_dir, const char *name,
                              mlsae_error *err)
{
    if (res->n_files >= MLSAE_ANALYSIS_MAX_FILES) {
        mlsae_fail(err, "too many output files");
        return NULL;
    }
    char *path = res->files[res->n_files];
    if (mlsae_analysis_path(path, sizeof res->files[0], out_dir, name, err)) return NULL;
    res->n_files++;
    return path;
}

int analysis_check_output(const char *out_dir, const char *name, mlsae_error *err)
{
    char path[sizeof ((mlsae_analysis_result *)0)->files[0]];
    if (mlsae_analysis_path(path, sizeof path, out_dir, name, err)) return -1;
    return mlsae_check_output_file(path, err);
}

void analysis_remove_files(mlsae_analysis_result *res)
{
    for (int i = 0; i < res->n_files; i++) remove(res->files[i]);
    res->n_files = 0;
}

int analysis_stream(const mlsae_run_config *cfg, mlsae_session *s, mlsae_sae *sae,
                    FILE *progress, const char *label, mlsae_stream_consumer consume, void *ctx,
                    analysis_reduce_fn reduce, mlsae_analysis_result *res, mlsae_error *err)
{
    const int rank = mlsae_comm_rank();
    mlsae_stream_options opt = {0};
    opt.sae = sae;
    opt.rank = rank;
    opt.ranks = mlsae_comm_size();
    opt.progress = rank == 0 ? progress : NULL;
    opt.label = label;
    mlsae_stream_summary sum;
    if (mlsae_stream_run(cfg, s, &opt, consume, ctx, &sum, err) || (reduce && reduce(ctx, err)))
        return -1;
    res->batches = sum.batches;
    res->tokens = sum.tokens;
    res->seconds = sum.seconds;
    return rank == 0;
}
