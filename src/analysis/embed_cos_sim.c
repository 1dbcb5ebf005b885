#include "config.h"
#include "analysis/embed_cos_sim.h"

#include <math.h>
#include <stdlib.h>

void mlsae_unit_rows(float *x, int rows, int d)
{
    for (int r = 0; r < rows; r++) {
        float *v = x + (size_t)r * d;
        double ss = 0;
        for (int i = 0; i < d; i++) ss += (double)v[i] * v[i];
        double norm = sqrt(ss);
        float inv = (float)(1.0 / (norm > 1e-8 ? norm : 1e-8));
        for (int i = 0; i < d; i++) v[i] *= inv;
    }
}

/* Insert (id, val) into a descending list of length m holding *n. */
static void push(int32_t *idx, float *val, int *n, int m, int32_t id, float v)
{
    if (*n == m && !(v > val[m - 1])) return;
    int i = *n < m ? (*n)++ : m - 1;
    while (i > 0 && v > val[i - 1]) {
        idx[i] = idx[i - 1];
        val[i] = val[i - 1];
        i--;
    }
    idx[i] = id;
    val[i] = v;
}

#define TILE_V 4096
#define TILE_N 1024

int mlsae_embed_topk(mlsae_backend *be, const float *embed, int vocab, const float *w, int n,
                     int d, int n_embeds, int32_t *top_idx, float *top_val, mlsae_error *err)
{
    if (n_embeds < 1 || n_embeds > vocab)
        return mlsae_fail(err, "n_embeds %d outside 1..%d (the vocabulary)", n_embeds, vocab);
    int tv = vocab < TILE_V ? vocab : TILE_V, tn = n < TILE_N ? n : TILE_N;
    mlsae_buffer *be_e = mlsae_alloc_f32(be, (size_t)vocab * d);
    mlsae_buffer *be_w = mlsae_alloc_f32(be, (size_t)n * d);
    mlsae_buffer *be_t = mlsae_alloc_f32(be, (size_t)tn * tv);
    float *tile = malloc((size_t)tn * tv * sizeof *tile);
    int *count = calloc((size_t)n, sizeof *count);
    int rc = -1;
    if (!be_e || !be_w || !be_t || !tile || !count) {
        mlsae_fail(err, "out of memory for the %d x %d embeddings", vocab, d);
        goto done;
    }
    if (be->ops->core.write(be, be_e, 0, embed, (size_t)vocab * d * sizeof *embed) ||
        be->ops->core.write(be, be_w, 0, w, (size_t)n * d * sizeof *w))
        goto be_fail;
    for (int j0 = 0; j0 < n; j0 += tn) {
        int bj = n - j0 < tn ? n - j0 : tn;
        for (int v0 = 0; v0 < vocab; v0 += tv) {
            int bv = vocab - v0 < tv ? vocab - v0 : tv;
            /* tile[jj, vv] = <W_{j0+jj}, E_{v0+vv}> */
            if (be->ops->core.sgemm(be, 0, 1, bj, bv, d, 1.0f, mlsae_at(be_w, (size_t)j0 * d), d,
                                    mlsae_at(be_e, (size_t)v0 * d), d, 0.0f, mlsae_at(be_t, 0),
                                    bv) ||
                be->ops->core.read(be, be_t, 0, tile, (size_t)bj * bv * sizeof *tile))
                goto be_fail;
            for (int jj = 0; jj < bj; jj++) {
                size_t j = (size_t)j0 + jj;
                for (int vv = 0; vv < bv; vv++)
                    push(top_idx + j * n_embeds, top_val + j * n_embeds, &count[j], n_embeds,
                         v0 + vv, tile[(size_t)jj * bv + vv]);
            }
        }
    }
    rc = 0;
    goto done;
be_fail:
    mlsae_fail(err, "embed-cos-sim: %s", mlsae_backend_error(be));
done:
    if (be_e) be->ops->core.free(be, be_e);
    if (be_w) be->ops->core.free(be, be_w);
    if (be_t) be->ops->core.free(be, be_t);
    free(tile);
    free(count);
    return rc;
}
