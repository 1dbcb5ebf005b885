#include "config.h"
#include "analysis/mmcs.h"

#include <math.h>
#include <stdlib.h>

int mlsae_mmcs(mlsae_backend *be, const float *dec, int n_inputs, int n_latents, int block,
               double *out, mlsae_error *err)
{
    const int d = n_inputs, n = n_latents;
    if (block <= 0) block = 1024;
    if (block > n) block = n;
    float *w = malloc((size_t)n * d * sizeof *w);
    float *tile = malloc((size_t)block * block * sizeof *tile);
    mlsae_buffer *bw = NULL, *bt = NULL;
    int rc = -1;
    if (!w || !tile) {
        mlsae_fail(err, "out of memory for a %d x %d decoder", d, n);
        goto done;
    }
    /* rows of w: unit decoder columns */
    for (int j = 0; j < n; j++) {
        double ss = 0;
        for (int i = 0; i < d; i++) ss += (double)dec[(size_t)i * n + j] * dec[(size_t)i * n + j];
        double norm = sqrt(ss);
        float inv = (float)(1.0 / (norm > 1e-8 ? norm : 1e-8));
        for (int i = 0; i < d; i++) w[(size_t)j * d + i] = dec[(size_t)i * n + j] * inv;
        out[j] = 0.0;
    }
    bw = mlsae_alloc_f32(be, (size_t)n * d);
    bt = mlsae_alloc_f32(be, (size_t)block * block);
    if (!bw || !bt) {
        mlsae_fail(err, "cannot allocate the decoder on the backend");
        goto done;
    }
    if (be->ops->core.write(be, bw, 0, w, (size_t)n * d * sizeof *w)) goto be_fail;
    for (int j0 = 0; j0 < n; j0 += block) {
        int bj = n - j0 < block ? n - j0 : block;
        for (int i0 = 0; i0 <= j0; i0 += block) {
            int bi = n - i0 < block ? n - i0 : block;
            /* tile[jj, ii] = <W_{j0+jj}, W_{i0+ii}> */
            if (be->ops->core.sgemm(be, 0, 1, bj, bi, d, 1.0f, mlsae_at(bw, (size_t)j0 * d), d,
                                    mlsae_at(bw, (size_t)i0 * d), d, 0.0f, mlsae_at(bt, 0), bi) ||
                be->ops->core.read(be, bt, 0, tile, (size_t)bj * bi * sizeof *tile))
                goto be_fail;
            for (int jj = 0; jj < bj; jj++) {
                int j = j0 + jj, lim = j - i0 < bi ? j - i0 : bi; /* i < j only */
                double m = out[j];
                for (int ii = 0; ii < lim; ii++)
                    if (tile[(size_t)jj * bi + ii] > m) m = tile[(size_t)jj * bi + ii];
                out[j] = m;
            }
        }
    }
    rc = 0;
    goto done;
be_fail:
    mlsae_fail(err, "mmcs: %s", mlsae_backend_error(be));
done:
    if (bw) be->ops->core.free(be, bw);
    if (bt) be->ops->core.free(be, bt);
    free(w);
    free(tile);
    return rc;
}
