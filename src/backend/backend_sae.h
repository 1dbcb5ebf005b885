/* Sparse autoencoder ops of the backend interface. Included by backend.h;
 * see there for the conventions. SPEC §4 is the maths these serve.
 *
 * Internal layout: the decoder is kept TRANSPOSED as dec [n_latents, d]
 * (one contiguous row per latent = one column of the reference's
 * decoder.weight [d, n_latents]); the encoder is enc [n_latents, d]. */
#ifndef MLSAE_BACKEND_SAE_H
#define MLSAE_BACKEND_SAE_H

struct mlsae_backend;

typedef struct mlsae_sae_ops {
    /* Per row of x [rows, d]: mu = mean, sd = std with Bessel's correction;
     * out = (x - mu) / (sd + eps). out may equal x. mu, sd [rows]. */
    int (*standardize)(struct mlsae_backend *be, mlsae_ref x, mlsae_ref out, mlsae_ref mu,
                       mlsae_ref sd, int rows, int d, float eps);
    /* out[r, :] = x[r, :] * scale[r] + shift[r] (undo standardize); out may equal x. */
    int (*row_affine)(struct mlsae_backend *be, mlsae_ref x, mlsae_ref out, mlsae_ref scale,
                      mlsae_ref shift, int rows, int d);
    /* For each row of pre [rows, n]: the k largest entries (values, int32
     * indices) in any order. With mask (int32 [n], optional), entries whose
     * mask is 0 count as 0.0 (the reference's pre * mask). Ties: lower index.
     * k = 0 selects nothing (values and indices untouched) and returns 0;
     * k < 0 or k > n is an error. */
    int (*topk)(struct mlsae_backend *be, mlsae_ref pre, int rows, int n, int k, mlsae_ref mask,
                mlsae_ref values, mlsae_ref indices);
    /* out[r, :] = beta * out[r, :] + sum_j f(coef[r, j]) * table[idx[r, j], :],
     * f = ReLU if relu else identity; coef [rows, k], idx int32 [rows, k],
     * table [n_table, d], out [rows, d]. beta == 0 overwrites out without
     * reading it (BLAS convention). The sparse decode, and its use for the
     * gradient through the encoder rows.
     * Index contract of every op with idx or cols (sparse_gather, sparse_dot,
     * sparse_scatter, update_dead, gather_columns): an index outside its
     * table is an error: -1 from the op, or, where the indices live on a
     * device and checking them would need a round trip, -1 from the next
     * finish() or read() naming the op; the output then holds no value
     * read from outside the table. */
    int (*sparse_gather)(struct mlsae_backend *be, mlsae_ref coef, mlsae_ref idx, int rows, int k,
                         mlsae_ref table, int d, int relu, float beta, mlsae_ref out);
    /* out[r, j] = dot(x[r, :], table[idx[r, j], :]); x [rows, d].
     * gate ([rows, k], optional): out[r, j] = 0 where gate[r, j] <= 0 (the
     * ReLU derivative when gate holds the activations); such dots are skipped. */
    int (*sparse_dot)(struct mlsae_backend *be, mlsae_ref x, mlsae_ref idx, int rows, int k,
                      mlsae_ref table, int d, mlsae_ref gate, mlsae_ref out);
    /* dst[idx[r, j], :] += coef[r, j] * x[r, :] for all r, j; dst [n_table, d].
     * Deterministic: each dst row sums its contributions in (r, j) order.
     * Terms with coef == 0 may be skipped (they add nothing for finite x). */
    int (*sparse_scatter)(struct mlsae_backend *be, mlsae_ref coef, mlsae_ref idx, int rows, int k,
                          mlsae_ref x, int d, mlsae_ref dst, int n_table);
    /* Dead-latent bookkeeping (SPEC §4 step 4): for every latent in any row's
     * idx with value > threshold, last_nonzero = 0; then all += 1.
     * last_nonzero int32 [n]. If mask is present (int32 [n]) it receives
     * last_nonzero >= dead_steps after the update. */
    int (*update_dead)(struct mlsae_backend *be, mlsae_ref values, mlsae_ref idx, int rows, int k,
                       float threshold, mlsae_ref last_nonzero, int n, int dead_steps,
                       mlsae_ref mask);
    /* x[i] = max(x[i], 0) for i < n, in place (NaN stays NaN, as torch.relu). */
    int (*relu)(struct mlsae_backend *be, mlsae_ref x, size_t n);
    /* Scale each row of w [rows, d] to unit L2 norm (w / ||w||; a zero row is
     * left as it is). */
    int (*normalize_rows)(struct mlsae_backend *be, mlsae_ref w, int rows, int d);
    /* g[r, :] -= dot(g[r, :], w[r, :]) * w[r, :] (w rows unit-norm). */
    int (*remove_parallel)(struct mlsae_backend *be, mlsae_ref w, mlsae_ref g, int rows, int d);
    /* Adam, PyTorch semantics, step >= 1:
     * m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
     * p -= lr * (m / (1 - b1^step)) / (sqrt(v / (1 - b2^step)) + eps). */
    int (*adam)(struct mlsae_backend *be, mlsae_ref p, mlsae_ref g, mlsae_ref m, mlsae_ref v,
                size_t n, float lr, float beta1, float beta2, float eps, int step);
    /* dst[r, j] = src[r, cols[j]] for r < rows, j < n_cols: src [rows, n],
     * cols int32 [n_cols] (any order, repeats allowed), dst [rows, n_cols].
     * A copy of 4-byte elements, bit for bit (float32 or int32 alike); dst
     * must not overlap src. A column outside 0..n-1 is an error on the CPU
     * backend; a device backend that cannot check device-resident indices
     * writes 0 there instead of reading out of bounds. Collects the
     * pre-activations of the AuxK candidates from each encoder chunk. */
    int (*gather_columns)(struct mlsae_backend *be, mlsae_ref src, int rows, int n, mlsae_ref cols,
                          int n_cols, mlsae_ref dst);
    /* Optional (NULL if absent): topk(pre, rows, n, k, mask, values, indices)
     * followed by gather_columns(pre, rows, n, cols, n_cols, gathered), with
     * the results of the two ops bit for bit; a backend may do both in one
     * pass over pre. n_cols == 0 is topk alone. */
    int (*topk_gather)(struct mlsae_backend *be, mlsae_ref pre, int rows, int n, int k,
                       mlsae_ref mask, mlsae_ref values, mlsae_ref indices, mlsae_ref cols,
                       int n_cols, mlsae_ref gathered);
    /* Optional (NULL if absent): the SAE's encoder product and its TopK in
     * one pass, results bit for bit those of
     *   lowp_gemm(fmt, rows, n, d, a, lda, packed, pre, n) (backend.h), then
     *   topk_gather(pre, rows, n, k, no mask, values, indices, cols, n_cols,
     *               gathered),
     * packed as lowp_pack made it. pre [rows, n] is a scratch whose contents
     * afterwards are unspecified (a fused pass never writes it). Returns 1,
     * having written nothing, for arguments it does not fuse (the caller then
     * makes the two calls); 0 or -1 otherwise. */
    /* Optional (NULL if absent): the SAE's sparse backward through the TopK
     * (or AuxK) selection, results bit for bit those of
     *   sparse_dot(g, idx, rows, k, dec, d, vals, ga),
     *   sparse_scatter(vals, idx, rows, k, g, d, g_dec, n),
     *   sparse_scatter(ga, idx, rows, k, x, d, g_enc, n)
     * (g, x [rows, d]; vals, idx, ga [rows, k]; dec, g_dec, g_enc [n, d]),
     * which a backend may do in one pass over the (r, j) pairs grouped by
     * latent, each latent's rows of dec, g_dec and g_enc touched once. */
    int (*sparse_backward)(struct mlsae_backend *be, mlsae_ref g, mlsae_ref x, mlsae_ref vals,
                           mlsae_ref idx, int rows, int k, mlsae_ref dec, int d, int n,
                           mlsae_ref ga, mlsae_ref g_dec, mlsae_ref g_enc);
    int (*lowp_gemm_topk)(struct mlsae_backend *be, int fmt, int rows, int n, int d, mlsae_ref a,
                          int lda, mlsae_ref packed, mlsae_ref pre, int k, mlsae_ref values,
                          mlsae_ref indices, mlsae_ref cols, int n_cols, mlsae_ref gathered);
} mlsae_sae_ops;

#endif
