/* mlsae mmcs: the decoder's mean max cosine similarity per checkpoint. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "analysis/csv_out.h"
#include "analysis/mmcs.h"
#include "analysis/run_common.h"
#include "core/progress.h"
#include "sae/checkpoint.h"

static int one(mlsae_backend *be, const char *dir, mlsae_csv_writer *c, const char *model_name,
               mlsae_error *err)
{
    mlsae_sae *sae = NULL;
    float *dec = NULL;
    double *mm = NULL;
    int rc = -1;
    if (mlsae_ckpt_load(dir, be, &sae, err)) return -1;
    const mlsae_sae_config *sc = mlsae_sae_get_config(sae);
    dec = malloc((size_t)sc->n_inputs * sc->n_latents * sizeof *dec);
    mm = malloc((size_t)sc->n_latents * sizeof *mm);
    if (!dec || !mm) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    if (mlsae_sae_get_params(sae, NULL, dec, NULL, NULL, err) ||
        mlsae_mmcs(be, dec, sc->n_inputs, sc->n_latents, 0, mm, err))
        goto done;
    mlsae_summary s;
    mlsae_summary_of(mm, (size_t)sc->n_latents, 0, &s);
    mlsae_csvw_str(c, model_name);
    mlsae_csvw_int(c, sc->n_latents);
    mlsae_csvw_int(c, sc->n_latents / sc->n_inputs);
    mlsae_csvw_int(c, sc->k);
    mlsae_csvw_str(c, "False");
    mlsae_csvw_summary(c, &s);
    mlsae_csvw_end_row(c);
    rc = 0;
done:
    if (rc) mlsae_error_prefix(err, "%s", dir);
    free(dec);
    free(mm);
    mlsae_sae_free(sae);
    return rc;
}

int mlsae_analysis_mmcs(const mlsae_run_config *cfg, const mlsae_ckpt_source *ckpts,
                        const char *const *model_names, int n_ckpts, const char *out_dir,
                        mlsae_analysis_result *res, mlsae_error *err)
{
    static const char *const cols[] = {"model_name", "n_latents", "expansion_factor",
                                       "k",          "tuned_lens", "mean",
                                       "var",        "std",        "sem"};
    memset(res, 0, sizeof *res);
    double t0 = mlsae_monotonic_seconds(NULL);
    if (mlsae_analysis_out_dir(out_dir, err)) return -1;
    mlsae_backend_params params = {0};
    params.n_threads = (int)cfg->threads;
    mlsae_backend *be = NULL;
    if (mlsae_backend_open(cfg->device, &params, &be, err)) return -1;
    const char *path = analysis_add_file(res, out_dir, "mmcs.csv", err);
    mlsae_csv_writer c;
    int rc = -1;
    if (!path || mlsae_csvw_open(&c, path, cols, 9, err)) {
        res->n_files = 0;
        goto done;
    }
    for (int i = 0; i < n_ckpts; i++)
        if (one(be, ckpts[i].dir, &c, model_names[i], err)) {
            mlsae_csvw_abort(&c);
            res->n_files = 0;
            goto done;
        }
    if (mlsae_csvw_commit(&c, err)) {
        res->n_files = 0;
        goto done;
    }
    rc = 0;
done:
    res->seconds = mlsae_monotonic_seconds(NULL) - t0;
    mlsae_backend_close(be);
    return rc;
}
