/* Transformer (GPT-NeoX) ops of the backend interface. Included by
 * backend.h; see there for the conventions (row-major, refs in elements). */
#ifndef MLSAE_BACKEND_NN_H
#define MLSAE_BACKEND_NN_H

struct mlsae_backend;

typedef struct mlsae_nn_ops {
    /* out[i, :] = table[ids[i], :] for i < n; ids int32, table [n_rows, dim]. */
    int (*embedding)(struct mlsae_backend *be, mlsae_ref table, mlsae_ref ids, int n, int dim,
                     mlsae_ref out);
    /* LayerNorm over the last dim (biased variance, as torch):
     * out = (x - mean) / sqrt(var + eps) * gamma + beta;  x, out [rows, dim]. */
    int (*layer_norm)(struct mlsae_backend *be, mlsae_ref x, mlsae_ref out, mlsae_ref gamma,
                      mlsae_ref beta, int rows, int dim, float eps);
    /* y = x @ W^T + b: x [rows, in], W [out, in] (torch Linear layout),
     * b [out] (optional), y [rows, out]. */
    int (*linear)(struct mlsae_backend *be, mlsae_ref x, mlsae_ref w, mlsae_ref b, int rows,
                  int in, int out, mlsae_ref y);
    /* x = 0.5 x (1 + erf(x / sqrt 2)), in place, n elements. */
    int (*gelu)(struct mlsae_backend *be, mlsae_ref x, size_t n);
    /* GPT-NeoX rotary embedding, in place on the fused QKV activations
     * qkv [batch * seq, n_heads * 3 * head_dim], laid out per head as
     * [q(head_dim), k(head_dim), v(head_dim)]. Rotates the first rot_dims
     * dims of q and k of each head with the rotate-half convention:
     * inv_freq[i] = base^(-2i/rot_dims), angle = pos * inv_freq[i % (rot_dims/2)],
     * pos = index within the sequence (0..seq-1). */
    int (*rotary)(struct mlsae_backend *be, mlsae_ref qkv, int batch, int seq, int n_heads,
                  int head_dim, int rot_dims, float base);
    /* Causal softmax attention over the fused qkv (layout as for rotary):
     * out[b, p, h*head_dim + d] = sum_{t<=p} softmax_t(q.k_t / sqrt(head_dim)) v_t[d];
     * out [batch * seq, n_heads * head_dim]. */
    int (*attention)(struct mlsae_backend *be, mlsae_ref qkv, mlsae_ref out, int batch, int seq,
                     int n_heads, int head_dim);
    /* Per-row next-token cross-entropy: loss[r] = logsumexp(logits[r]) - logits[r, target[r]];
     * logits [rows, vocab], target int32 [rows] (a negative target gives loss 0). */
    int (*cross_entropy)(struct mlsae_backend *be, mlsae_ref logits, mlsae_ref target, int rows,
                         int vocab, mlsae_ref loss);
    /* Per-row KL(pred || true) = sum_v p_pred (log p_pred - log p_true), the
     * reference's kl_div(log_softmax(true), log_softmax(pred), log_target=True)
     * before reduction; logits [rows, vocab], out [rows]. */
    int (*kl_div)(struct mlsae_backend *be, mlsae_ref logits_true, mlsae_ref logits_pred,
                  int rows, int vocab, mlsae_ref out);
} mlsae_nn_ops;

#endif
