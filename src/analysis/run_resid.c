/* mlsae resid-cos-sim: two passes of the stream (no SAE) over host
 * activations. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/batch_log.h"
#include "analysis/csv_out.h"
#include "analysis/exact_sum.h"
#include "analysis/resid.h"
#include "analysis/run_common.h"
#include "pipeline/comm.h"
#include "pipeline/stream.h"

typedef struct resid_run {
    int n_layers, d;
    int pass;             /* 1: means and norms; 2: cosine similarities */
    int64_t *sum;         /* [n_layers, d, MLSAE_EXACT_LIMBS] exact sums of x (pass 1) */
    double *special;      /* [n_layers, d] their infinities and NaN */
    double *mean_vec;     /* [n_layers, d] the dataset means (after pass 1) */
    double *count;        /* rows seen per layer (pass 1) */
    mlsae_running *norms; /* [n_layers] */
    mlsae_running *cos;   /* [n_layers - 1] */
    mlsae_batch_log log;  /* each batch's (count, mean, squared) per layer (pair) */
    double *part;         /* [3 n_layers] one batch's record */
    double *buf;          /* [rows] scratch */
    size_t buf_n;
} resid_run;

/* One batch's statistics of buf[0..n) into part[3 i ..]. */
static void batch_stats(resid_run *r, int i, int n)
{
    mlsae_running b = mlsae_running_of(r->buf, (size_t)n);
    r->part[3 * i] = b.count;
    r->part[3 * i + 1] = b.mean;
    r->part[3 * i + 2] = b.squared;
}

static int consume(void *ctx, const mlsae_stream_batch *b, mlsae_error *err)
{
    resid_run *r = ctx;
    const int d = r->d, n = b->n_tokens;
    if (n == 0) return 0; /* past the budget: not a batch of one process */
    if ((size_t)n > r->buf_n) {
        double *nb = realloc(r->buf, (size_t)n * sizeof *nb);
        if (!nb) return mlsae_fail(err, "out of memory");
        r->buf = nb;
        r->buf_n = (size_t)n;
    }
    const size_t per_layer = (size_t)b->rows_per_layer * d;
    if (r->pass == 1) {
        for (int l = 0; l < r->n_layers; l++) {
            const float *x = b->x_host + l * per_layer;
            int64_t *sum = r->sum + (size_t)l * d * MLSAE_EXACT_LIMBS;
            double *special = r->special + (size_t)l * d;
            r->count[l] += n;
            for (int t = 0; t < n; t++)
                for (int c = 0; c < d; c++)
                    mlsae_exact_add_f32(sum + (size_t)c * MLSAE_EXACT_LIMBS, &special[c],
                                        x[(size_t)t * d + c]);
            for (int c = 0; c < d; c++) mlsae_exact_normalize(sum + (size_t)c * MLSAE_EXACT_LIMBS);
            for (int t = 0; t < n; t++) {
                double ss = 0;
                for (int c = 0; c < d; c++) ss += (double)x[(size_t)t * d + c] * x[(size_t)t * d + c];
                r->buf[t] = sqrt(ss);
            }
            batch_stats(r, l, n);
        }
        return mlsae_batch_log_append(&r->log, b->index, r->part, err);
    }
    for (int l = 0; l + 1 < r->n_layers; l++) {
        const float *x = b->x_host + l * per_layer, *y = x + per_layer;
        const double *mx = r->mean_vec + (size_t)l * d, *my = mx + d;
        for (int t = 0; t < n; t++) {
            double xy = 0, xx = 0, yy = 0;
            for (int c = 0; c < d; c++) {
                double u = x[(size_t)t * d + c] - mx[c], v = y[(size_t)t * d + c] - my[c];
                xy += u * v;
                xx += u * u;
                yy += v * v;
            }
            /* normalize(x, -1): x / max(|x|, 1e-8) */
            r->buf[t] = xy / fmax(sqrt(xx), 1e-8) / fmax(sqrt(yy), 1e-8);
        }
        batch_stats(r, l, n);
    }
    return mlsae_batch_log_append(&r->log, b->index, r->part, err);
}

/* After pass 1, on every rank: the dataset mean of each layer, the exact
 * sums over all batches / the row count. Over MPI (doc/scaling.md) the
 * ranks' sums are added limb by limb first (n_layers * d_model *
 * MLSAE_EXACT_LIMBS int64 and n_layers * (d_model + 1) doubles): the same
 * sums, so the same means, as one process. */
static int reduce_means(resid_run *r, mlsae_error *err)
{
    const size_t n = (size_t)r->n_layers * r->d;
    if (mlsae_comm_size() > 1) {
        if (mlsae_comm_sum_i64(r->sum, n * MLSAE_EXACT_LIMBS, err) ||
            mlsae_comm_sum_f64(r->special, n, err) ||
            mlsae_comm_sum_f64(r->count, (size_t)r->n_layers, err))
            return -1;
        for (size_t i = 0; i < n; i++) mlsae_exact_normalize(r->sum + i * MLSAE_EXACT_LIMBS);
    }
    for (int l = 0; l < r->n_layers; l++)
        for (int c = 0; c < r->d; c++) {
            size_t i = (size_t)l * r->d + c;
            r->mean_vec[i] = r->count[l] > 0
                                 ? mlsae_exact_value(r->sum + i * MLSAE_EXACT_LIMBS, r->special[i]) /
                                       r->count[l]
                                 : 0.0;
        }
    return 0;
}

/* After each pass: the batches' statistics (on rank 0 every rank's,
 * mlsae_batch_log_gather) merged in batch order into out[0..n): one
 * process's sequence of operations, whatever the ranks. */
static int merge_batches(resid_run *r, mlsae_running *out, int n, mlsae_error *err)
{
    if (mlsae_batch_log_gather(&r->log, err)) return -1;
    if (mlsae_comm_rank() == 0)
        for (size_t i = 0; i < r->log.n; i++) {
            const double *p = mlsae_batch_log_values(&r->log, i);
            for (int l = 0; l < n; l++) {
                mlsae_running b = {p[3 * l], p[3 * l + 1], p[3 * l + 2]};
                mlsae_running_merge(&out[l], &b);
            }
        }
    mlsae_batch_log_free(&r->log);
    return 0;
}

static int write_stats(const char *path, const char *index, const mlsae_running *rs, int n,
                       mlsae_error *err)
{
    const char *cols[5] = {index, "mean", "var", "std", "sem"};
    mlsae_csv_writer c;
    if (mlsae_csvw_open(&c, path, cols, 5, err)) return -1;
    for (int i = 0; i < n; i++) {
        double v[4];
        mlsae_running_get(&rs[i], v);
        mlsae_csvw_int(&c, i);
        for (int j = 0; j < 4; j++) mlsae_csvw_real(&c, v[j]);
        mlsae_csvw_end_row(&c);
    }
    return mlsae_csvw_commit(&c, err);
}

int mlsae_analysis_resid_cos_sim(const mlsae_run_config *cfg, const char *out_dir,
                                 FILE *progress, mlsae_analysis_result *res, mlsae_error *err)
{
    memset(res, 0, sizeof *res);
    if (mlsae_analysis_out_dir(out_dir, err)) return -1;
    mlsae_session s;
    if (mlsae_session_open(&s, cfg, 0, err)) return -1;
    /* with autoencoder.tuned_lens, every layer through its translator before
     * the statistics, as figures/resid_cos_sim.py; files named "lens_" */
    if (mlsae_session_load_lens(&s, cfg, NULL, err)) {
        mlsae_session_close(&s);
        return -1;
    }
    const char *lens_name = s.lens ? "lens_" : "";
    const char *model = strrchr(cfg->model_name, '/');
    model = model && model[1] ? model + 1 : cfg->model_name;
    char name[MLSAE_CONFIG_STR_MAX + 64];
    snprintf(name, sizeof name, "resid_l2_norm_%s%s.csv", lens_name, model);
    int bad_out = analysis_check_output(out_dir, name, err);
    snprintf(name, sizeof name, "resid_cos_sim_%s%s.csv", lens_name, model);
    if (bad_out || analysis_check_output(out_dir, name, err)) {
        mlsae_session_close(&s);
        return -1;
    }
    resid_run r;
    memset(&r, 0, sizeof r);
    r.n_layers = s.n_layers;
    r.d = s.d_model;
    int rc = -1;
    r.sum = calloc((size_t)s.n_layers * s.d_model * MLSAE_EXACT_LIMBS, sizeof *r.sum);
    r.special = calloc((size_t)s.n_layers * s.d_model, sizeof *r.special);
    r.part = calloc((size_t)3 * s.n_layers, sizeof *r.part);
    r.mean_vec = calloc((size_t)s.n_layers * s.d_model, sizeof *r.mean_vec);
    r.count = calloc((size_t)s.n_layers, sizeof *r.count);
    r.norms = calloc((size_t)s.n_layers, sizeof *r.norms);
    r.cos = calloc((size_t)s.n_layers, sizeof *r.cos);
    if (!r.sum || !r.special || !r.part || !r.mean_vec || !r.count || !r.norms || !r.cos) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    if (s.n_layers < 2) {
        mlsae_fail(err, "layers: resid-cos-sim needs at least 2 layers");
        goto done;
    }
    const int rank = mlsae_comm_rank();
    mlsae_stream_options opt = {0};
    opt.host_activations = 1;
    opt.rank = rank;
    opt.ranks = mlsae_comm_size();
    opt.progress = rank == 0 ? progress : NULL;
    mlsae_stream_summary sum;
    for (r.pass = 1; r.pass <= 2; r.pass++) {
        opt.label = r.pass == 1 ? "resid 1/2" : "resid 2/2";
        mlsae_batch_log_init(&r.log, (size_t)3 * (r.pass == 1 ? s.n_layers : s.n_layers - 1));
        if (mlsae_stream_run(cfg, &s, &opt, consume, &r, &sum, err)) goto done;
        if (r.pass == 1 ? reduce_means(&r, err) || merge_batches(&r, r.norms, s.n_layers, err)
                        : merge_batches(&r, r.cos, s.n_layers - 1, err))
            goto done;
        res->batches += sum.batches;
        res->seconds += sum.seconds;
    }
    res->tokens = sum.tokens;
    if (rank != 0) {
        rc = 0; /* rank 0 writes */
        goto done;
    }
    const char *path;
    /* on a failed write only the files written before it are removed */
    snprintf(name, sizeof name, "resid_l2_norm_%s%s.csv", lens_name, model);
    if (!(path = analysis_add_file(res, out_dir, name, err))) goto done;
    if (write_stats(path, "layer", r.norms, s.n_layers, err)) {
        res->n_files--;
        goto done;
    }
    snprintf(name, sizeof name, "resid_cos_sim_%s%s.csv", lens_name, model);
    if (!(path = analysis_add_file(res, out_dir, name, err))) goto done;
    if (write_stats(path, "start_at_layer", r.cos, s.n_layers - 1, err)) {
        res->n_files--;
        goto done;
    }
    rc = 0;
done:
    if (rc) analysis_remove_files(res);
    mlsae_batch_log_free(&r.log);
    free(r.sum);
    free(r.special);
    free(r.part);
    free(r.mean_vec);
    free(r.count);
    free(r.norms);
    free(r.cos);
    free(r.buf);
    mlsae_session_close(&s);
    return rc;
}
