/* GPT-NeoX (Pythia) hyper-parameters, read from a HF config.json (SPEC §2). */
#ifndef MLSAE_MODEL_NEOX_CONFIG_H
#define MLSAE_MODEL_NEOX_CONFIG_H

#include "core/status.h"

typedef struct mlsae_neox_config {
    int vocab_size;            /* rows of embed_in / embed_out (padded, e.g. 50304) */
    int hidden_size;           /* d_model */
    int n_heads;               /* num_attention_heads */
    int n_layers;              /* num_hidden_layers */
    int intermediate_size;     /* d_ff */
    int max_positions;         /* max_position_embeddings */
    double rotary_pct;         /* fraction of head_dim that is rotated */
    double rotary_base;        /* rotary_emb_base (rope_theta) */
    double layer_norm_eps;
    int use_parallel_residual; /* x + attn(ln1 x) + mlp(ln2 x), else sequential */
    int attention_bias;        /* query_key_value and dense have biases (default 1) */
    int tie_word_embeddings;   /* embed_out shares embed_in (default 0) */
    int bos_token_id, eos_token_id, pad_token_id; /* -1 when absent or null */
    /* derived */
    int head_dim;              /* hidden_size / n_heads */
    int rot_dims;              /* int(head_dim * rotary_pct), as HF truncates */
} mlsae_neox_config;

/* Parse a config.json text; `origin` names it in messages. Every key may be
 * absent and then takes HF GPTNeoXConfig's default (transformers'
 * configuration_gpt_neox.py): vocab_size 50432, hidden_size 6144,
 * num_hidden_layers 44, num_attention_heads 64, intermediate_size 24576,
 * max_position_embeddings 2048, layer_norm_eps 1e-5, use_parallel_residual
 * true, attention_bias true, tie_word_embeddings false, rotary_pct 0.25,
 * rotary_emb_base 10000, bos_token_id 0, eos_token_id 2, pad_token_id none.
 * rotary_pct / rotary_emb_base are read as transformers does:
 * rope_parameters (or rope_scaling) .partial_rotary_factor / .rope_theta
 * first, then rotary_pct or partial_rotary_factor / rotary_emb_base or
 * rope_theta. Refused, as HF refuses them: a value of the wrong type
 * (a string, a real for an integer, 1 for a boolean, null for a number),
 * hidden_size not a multiple of num_attention_heads; and what this
 * implementation cannot run (hidden_act other than "gelu", rope types other
 * than "default", sizes out of 1..2^30). Each is a one-line error naming
 * origin and the file's key. */
int mlsae_neox_config_parse(const char *json_text, const char *origin, mlsae_neox_config *cfg,
                            mlsae_error *err);
/* Read <path> (a config.json file, or a directory holding one). */
int mlsae_neox_config_load(const char *path, mlsae_neox_config *cfg, mlsae_error *err);
/* Write cfg as a HF GPTNeoXForCausalLM config.json (atomically). */
int mlsae_neox_config_write(const char *path, const mlsae_neox_config *cfg, mlsae_error *err);
/* A Pythia-style configuration of the given size (rotary_pct 0.25, base
 * 10000, LayerNorm eps 1e-5, parallel residual, biases, 2048 positions,
 * eos = bos = 0, no pad), validated. For random-weight models. */
int mlsae_neox_config_pythia(mlsae_neox_config *cfg, int d_model, int n_layers, int n_heads,
                             int d_ff, int vocab_size, mlsae_error *err);

/* Fill derived fields and check consistency (heads divide hidden_size, ...). */
int mlsae_neox_config_validate(mlsae_neox_config *cfg, const char *origin, mlsae_error *err);

#endif
