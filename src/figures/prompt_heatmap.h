/* prompt-heatmap (figures/prompt_heatmaps.py): how one prompt's activation
 * of each latent is shared among the layers.
 *
 * The prompt is tokenized (no special tokens added, as the reference's
 * tokenizer.encode), run through the transformer (the residual stream after
 * each selected layer, special-token positions zeroed when
 * skip_special_tokens is on) and the SAE's forward (TopK, ReLU'd values).
 * For each layer l and latent j, a[l, j] = sum over the prompt's tokens of
 * the latent's value; latents with max_l a[l, j] <= dead_threshold are left
 * out; probs[l, j] = a[l, j] / sum_l a[l, j]; the latents are sorted by
 * sum_l l * probs[l, j], descending (the reference's comment says
 * ascending; its code sorts descending, and so do we). */
#ifndef MLSAE_FIGURES_PROMPT_HEATMAP_H
#define MLSAE_FIGURES_PROMPT_HEATMAP_H

#include <stdint.h>
#include "figures/figures.h"
#include "config/run_config.h"

/* The reference's default prompt. */
#define MLSAE_DEFAULT_PROMPT "When Mary and John went to the store, John gave a drink to"

typedef struct mlsae_prompt_probs {
    int n_layers, n_latents; /* n_latents: the latents kept */
    float *probs;            /* [n_layers, n_latents] in plot order */
    int64_t *latents;        /* [n_latents]: their indices */
    int n_tokens;
} mlsae_prompt_probs;

/* cfg: the run options (model_name, layers, tokenizer, device,
 * model_device, skip_special_tokens); sae_dir: a checkpoint directory
 * (plain or -tfm); its sizes come from the checkpoint. */
int mlsae_prompt_probs_compute(const mlsae_run_config *cfg, const char *sae_dir,
                               const char *prompt, double dead_threshold,
                               mlsae_prompt_probs *out, mlsae_error *err);
void mlsae_prompt_probs_free(mlsae_prompt_probs *p);

/* BASE.csv (layer, then one column per latent, named by its index, in plot
 * order) and the heatmap. */
int mlsae_fig_prompt_heatmap(const mlsae_prompt_probs *p, const char *name, const char *base,
                             const mlsae_fig_opts *o, mlsae_error *err);

#endif
