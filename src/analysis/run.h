/* The analyses that stream a dataset through the model and a trained SAE
 * (pipeline/stream.h): dists, examples, variances; and those that need no
 * data: mmcs, embed-cos-sim. Each writes its files under out_dir with the
 * reference's names, atomically and only when the whole run succeeded (a
 * failure leaves none of them behind). Progress goes to `progress` (may be
 * NULL). See doc/analysis.md. */
#ifndef MLSAE_ANALYSIS_RUN_H
#define MLSAE_ANALYSIS_RUN_H

#include <stdint.h>
#include <stdio.h>
#include "config/run_config.h"
#include "core/status.h"
#include "sae/ckpt_source.h"

#define MLSAE_ANALYSIS_MAX_FILES 4

typedef struct mlsae_analysis_result {
    int64_t batches;
    uint64_t tokens;   /* per layer */
    double seconds;
    int n_files;
    char files[MLSAE_ANALYSIS_MAX_FILES][4200]; /* what was written */
} mlsae_analysis_result;

/* dists (mlsae/analysis/dists.py): OUT/<rename(NAME, "dists")>.safetensors
 * (counts, totals F32 [n_layers, n_latents]), OUT/<same>.csv (one row per
 * latent), and, unless trainer.log_every_n_steps is null, every that many
 * batches (from batch 0) a row of OUT/dists_layer_std_step_NAME.csv. */
int mlsae_analysis_dists(const mlsae_run_config *cfg, const mlsae_ckpt_source *ckpt,
                         const char *out_dir, FILE *progress, mlsae_analysis_result *res,
                         mlsae_error *err);

typedef struct mlsae_examples_options {
    int n_examples; /* kept per (latent, layer), highest activations first (32) */
    int n_tokens;   /* context either side of the activating token (4) */
} mlsae_examples_options;

/* examples (mlsae/analysis/examples.py): OUT/<rename(NAME, "examples")>.db. */
int mlsae_analysis_examples(const mlsae_run_config *cfg, const mlsae_ckpt_source *ckpt,
                            const mlsae_examples_options *opt, const char *out_dir,
                            FILE *progress, mlsae_analysis_result *res, mlsae_error *err);

/* variances (mlsae/analysis/variances.py): OUT/variances_NAME.csv, one row:
 * model_name,n_layers,n_latents,expansion_factor,k,step,tokens,exp_var_l_f,
 * exp_var_l_tf,var_l,rel_var_f,rel_var_t (analysis/variances.h). */
int mlsae_analysis_variances(const mlsae_run_config *cfg, const mlsae_ckpt_source *ckpt,
                             const char *out_dir, FILE *progress, mlsae_analysis_result *res,
                             mlsae_error *err);

/* embed-cos-sim (figures/embed_cos_sim.py): OUT/embed_in_cos_sim_NAME.csv
 * and OUT/embed_out_cos_sim_NAME.csv (latent,token,sim: per latent the
 * n_embeds tokens whose input / output embedding is most similar to its
 * decoder column, descending) and OUT/embed_cos_sim.csv (model_name,
 * n_latents,expansion_factor,k,tuned_lens, then mean, var, std, sem of each
 * latent's best similarity, in_* and out_*; unbiased var as torch). latents
 * (n_latents_in of them; 0: every latent) selects the latents. No data. */
int mlsae_analysis_embed_cos_sim(const mlsae_run_config *cfg, const mlsae_ckpt_source *ckpt,
                                 const int *latents, int n_latents_in, int n_embeds,
                                 const char *out_dir, mlsae_analysis_result *res,
                                 mlsae_error *err);

/* resid-cos-sim (figures/resid_cos_sim.py; the transformer only, cfg's
 * model_name and layers): OUT/resid_l2_norm_MODEL.csv (layer,mean,var,std,
 * sem of the residual vectors' L2 norm) and OUT/resid_cos_sim_MODEL.csv
 * (start_at_layer,mean,var,std,sem of the cosine similarity of
 * mean-centred vectors at adjacent layers); MODEL is model_name's last path
 * component. Two passes over the data (analysis/resid.h). */
int mlsae_analysis_resid_cos_sim(const mlsae_run_config *cfg, const char *out_dir,
                                 FILE *progress, mlsae_analysis_result *res, mlsae_error *err);

/* mmcs (figures/mmcs.py): OUT/mmcs.csv, one row per checkpoint:
 * model_name,n_latents,expansion_factor,k,tuned_lens,mean,var,std,sem of the
 * per-latent max cosine similarity (analysis/mmcs.h), unbiased var/std as
 * torch. No data; the GEMMs run on cfg->device. model_names[i] names the
 * model of ckpts[i] for the model_name column. */
int mlsae_analysis_mmcs(const mlsae_run_config *cfg, const mlsae_ckpt_source *ckpts,
                        const char *const *model_names, int n_ckpts, const char *out_dir,
                        mlsae_analysis_result *res, mlsae_error *err);

#endif
