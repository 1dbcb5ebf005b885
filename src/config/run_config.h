/* The configuration of a training or test run.
 *
 * Mirrors the reference's RunConfig (nested sections autoencoder.*, data.*,
 * trainer.*, plus top-level model_name, layers, seed, project, run) with the
 * same key names and defaults, so a YAML file saved by the reference loads
 * here; a few options of our own are added (device, model_device, threads, tokenizer,
 * trainer.checkpoint_every_n_steps). doc/config.md describes every option.
 *
 * One table (mlsae_run_config_options) lists every option with its type,
 * place in the struct, default, range and help text; YAML keys, command-line
 * flags, --help and --print all come from it.
 *
 * Sources, in order of precedence (later wins): the defaults, YAML files
 * given with --config (in order), command-line options.
 *
 * Null values: integers hold MLSAE_CONFIG_NONE, reals hold NaN, strings are
 * empty, layers has n_layers == 0 (meaning: all layers of the model).
 */
#ifndef MLSAE_CONFIG_RUN_CONFIG_H
#define MLSAE_CONFIG_RUN_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "core/status.h"

#define MLSAE_CONFIG_NONE (-1)
#define MLSAE_CONFIG_STR_MAX 4096
#define MLSAE_CONFIG_SHORT_STR_MAX 64
#define MLSAE_CONFIG_MAX_LAYERS 256

typedef struct mlsae_autoencoder_config {
    int64_t expansion_factor;      /* n_latents = expansion_factor * d_model (16) */
    int64_t k;                     /* latents kept by TopK (32); <= n_latents, checked later */
    int64_t auxk;                  /* dead latents in the auxiliary loss (256); NONE: no AuxK */
    double auxk_coef;              /* weight of the auxiliary loss (1/32); NaN (null) = 0 */
    int64_t dead_tokens_threshold; /* tokens without activation before a latent is dead (1e7) */
    double dead_threshold;         /* activation above which a latent counts as active (1e-3) */
    double lr;                     /* Adam learning rate (1e-4) */
    int standardize;               /* standardize inputs per vector (1) */
    int skip_special_tokens;       /* ignore positions holding special tokens (1) */
    int tuned_lens;                /* reference option; must be 0 (not supported) */
} mlsae_autoencoder_config;

typedef struct mlsae_data_config {
    char path[MLSAE_CONFIG_STR_MAX]; /* dataset: file, directory or glob (or a Hub name) */
    char name[MLSAE_CONFIG_STR_MAX]; /* Hub dataset subset; "" = null */
    int64_t max_length;              /* tokens per sequence (2048) */
    int64_t batch_size;              /* sequences per micro-batch (1) */
    double max_tokens;               /* tokens to train/test on (1e9) */
    int64_t num_workers;             /* data-loading threads; NONE = automatic */
    /* saved activations to train on instead of path + the model: safetensors
     * 'inputs' F32 [n_batches, n_layers, batch, pos, d_model]; "" = none */
    char activations[MLSAE_CONFIG_STR_MAX];
} mlsae_data_config;

typedef struct mlsae_trainer_config {
    char checkpoint_path[MLSAE_CONFIG_STR_MAX]; /* checkpoint to resume from; "" = none */
    char precision[MLSAE_CONFIG_SHORT_STR_MAX]; /* "32", "bf16-mixed", "16-mixed" (backend/lowp.h) */
    int64_t accumulate_grad_batches;            /* micro-batches per optimizer step (64) */
    int64_t max_steps;                /* optimizer steps; NONE = from data.max_tokens */
    int64_t log_every_n_steps;        /* optimizer steps between metric rows (8); NONE = 50 */
    int64_t val_check_interval;       /* micro-batches between validations (4096); NONE = at end */
    int64_t limit_val_batches;        /* batches per validation (512); NONE = all; 0 = none */
    char default_root_dir[MLSAE_CONFIG_STR_MAX]; /* output directory; "" = current directory */
    int64_t checkpoint_every_n_steps; /* optimizer steps between checkpoints (64); 0 = at end */
} mlsae_trainer_config;

/* A training sweep, the reference's SweepConfig (mlsae/trainer/config.py):
 * several values given on the command line for autoencoder.expansion_factor
 * and/or autoencoder.k ("--autoencoder.k 16 32 64"); mlsae train trains the
 * product of the lists from one transformer pass (train/trainer.h). n_* = 0:
 * no list, the scalar of autoencoder.* applies (which then holds the list's
 * first value). The lists are not options of the table: YAML files,
 * run.yaml, equality and reconciliation ignore them. */
#define MLSAE_CONFIG_MAX_SWEEP 16   /* values per list */
#define MLSAE_CONFIG_MAX_MEMBERS 64 /* SAEs per sweep (the lists' product) */

typedef struct mlsae_sweep_config {
    int n_expansion_factor;
    int64_t expansion_factor[MLSAE_CONFIG_MAX_SWEEP];
    int n_k;
    int64_t k[MLSAE_CONFIG_MAX_SWEEP];
} mlsae_sweep_config;

typedef struct mlsae_run_config {
    mlsae_autoencoder_config autoencoder;
    mlsae_data_config data;
    mlsae_trainer_config trainer;
    int64_t seed;                             /* global random seed (42) */
    char model_name[MLSAE_CONFIG_STR_MAX];    /* Hub name or local model directory */
    char revision[MLSAE_CONFIG_SHORT_STR_MAX]; /* hub revision of model_name; "" = main */
    int n_layers;                             /* 0 = all layers of the model */
    int layers[MLSAE_CONFIG_MAX_LAYERS];      /* layer indices, in the given order */
    char project[MLSAE_CONFIG_STR_MAX];       /* reference's W&B project; "" = null */
    char run[MLSAE_CONFIG_STR_MAX];           /* run name; "" = null */
    char device[MLSAE_CONFIG_SHORT_STR_MAX];  /* the SAE's: "auto", "cpu", "opencl", "opencl:N" */
    char model_device[MLSAE_CONFIG_SHORT_STR_MAX]; /* the transformer's (same names; "cpu") */
    int64_t threads;                          /* CPU threads; 0 = all cores */
    char tokenizer[MLSAE_CONFIG_STR_MAX];     /* tokenizer.json; "" = the model's own */
    char init[MLSAE_CONFIG_STR_MAX];          /* MLSAE checkpoint to start from; "" = none */
    char lens[MLSAE_CONFIG_STR_MAX];          /* tuned lens directory; "" = the HF cache's */
    char lens_inverse[MLSAE_CONFIG_SHORT_STR_MAX]; /* "reference" or "exact" */
    mlsae_sweep_config sweep;                 /* command-line lists; see above */
} mlsae_run_config;

/* ---- the option table ----------------------------------------------------- */

typedef enum mlsae_option_type {
    MLSAE_OPT_BOOL,   /* int 0/1 */
    MLSAE_OPT_INT,    /* int64_t */
    MLSAE_OPT_REAL,   /* double */
    MLSAE_OPT_STRING, /* char[size] */
    MLSAE_OPT_LAYERS  /* n_layers + layers[] */
} mlsae_option_type;

typedef struct mlsae_option {
    const char *key;          /* YAML path and long flag, e.g. "autoencoder.k" */
    const char *aliases;      /* extra flag names, space separated ("k expansion-factor") */
    mlsae_option_type type;
    size_t offset;            /* of the field in mlsae_run_config */
    size_t size;              /* of the field (string capacity) */
    const char *default_text; /* the default, parsed like any YAML/CLI value */
    int nullable;
    double min, max;          /* inclusive range (ints and reals; layers: per index) */
    int min_exclusive;        /* value must be > min */
    const char *metavar;      /* "N", "FLOAT", "PATH", ... for --help */
    const char *help;         /* one line */
    /* Extra check of a set value; writes a reason to why and returns -1. */
    int (*check)(const mlsae_run_config *cfg, char *why, size_t n);
} mlsae_option;

/* The table, in the order options are printed. */
const mlsae_option *mlsae_run_config_options(size_t *count);

/* Look up a command-line name: the full key ("autoencoder.k"), its last
 * component ("k") or an alias; '-' and '_' are interchangeable. NULL if
 * unknown. */
const mlsae_option *mlsae_run_config_find_option(const char *name);

/* Set one option from text. `quoted` is true for a quoted YAML scalar (then
 * only string options accept it). On failure writes the reason (without the
 * option name) to why. */
int mlsae_run_config_set_text(mlsae_run_config *cfg, const mlsae_option *opt, const char *text,
                              int quoted, char *why, size_t n);

/* ---- whole configurations ------------------------------------------------- */

/* Every option at its default. */
void mlsae_run_config_defaults(mlsae_run_config *cfg);

/* Apply a YAML file on top of cfg. Errors name "FILE:LINE:COL: key: why". */
int mlsae_run_config_load_yaml(mlsae_run_config *cfg, const char *path, mlsae_error *err);
/* The same from text in memory; `name` stands for the file in messages. */
int mlsae_run_config_load_yaml_text(mlsae_run_config *cfg, const char *text, size_t len,
                                    const char *name, mlsae_error *err);

/* Apply command-line options argv[1..argc-1] (argv[0] is the command name).
 * Accepts "--key value", "--key=value", booleans as "--key", "--key=false",
 * "--no-key"; "--config FILE" is skipped (see mlsae_run_config_from_args).
 * Arguments that are not run options (positional ones, other flags, all
 * after "--") are appended to rest[] in order when rest is non-NULL (room
 * for argc entries; *n_rest counts them); when rest is NULL they are errors.
 * Values after an option's value ("--autoencoder.k 16 32 64": the words up
 * to the next one starting with '-') form a sweep list (cfg->sweep; the
 * scalar gets the first value) for autoencoder.expansion_factor and
 * autoencoder.k; several model_name values are refused (a sweep shares one
 * transformer: one model per command), and so is a list for any other
 * option, naming it. Giving such an option again replaces its list. */
int mlsae_run_config_parse_args(mlsae_run_config *cfg, int argc, char **argv, char **rest,
                                int *n_rest, mlsae_error *err);

/* Defaults, then every "--config FILE" (or --config=FILE) in order, then the
 * other options of argv, then mlsae_run_config_validate. rest as above. */
int mlsae_run_config_from_args(mlsae_run_config *cfg, int argc, char **argv, char **rest,
                               int *n_rest, mlsae_error *err);

/* A reference -tfm checkpoint directory's config.json holds the run
 * options of the Lightning module that saved it: set model_name, layers,
 * data.max_length, data.batch_size, autoencoder.skip_special_tokens,
 * autoencoder.tuned_lens and autoencoder.dead_tokens_threshold (the one its
 * metrics use) from it, and
 * *is_tfm = 1. A training checkpoint (<out>/checkpoints/<c>: config.json
 * without model_name, and run.yaml) sets the same options, and revision,
 * tokenizer, expansion_factor and k, from its run.yaml, and *is_tfm = 1. A plain SAE checkpoint
 * changes nothing.
 * Errors name the file and key. Apply it to the base configuration, before
 * YAML files and the command line (mlsae_run_config_from_args_base). */
int mlsae_run_config_apply_checkpoint(mlsae_run_config *cfg, const char *dir, int *is_tfm,
                                      mlsae_error *err);

/* A training checkpoint's run.yaml (written with every checkpoint): -1
 * with the error naming it when it is an empty file (damaged; loaded, no
 * options would silently mean the defaults, e.g. the default model), else
 * 0. Used by mlsae_run_config_apply_checkpoint and by train --resume. */
int mlsae_run_config_check_run_yaml(const char *path, mlsae_error *err);

/* mlsae_run_config_from_args starting from base instead of the defaults
 * (base may be NULL). */
int mlsae_run_config_from_args_base(mlsae_run_config *cfg, const mlsae_run_config *base,
                                    int argc, char **argv, char **rest, int *n_rest,
                                    mlsae_error *err);

/* Checks that need several options together. Ranges of single options are
 * checked when they are set; k <= n_latents and layer indices < n_layers
 * need the model and are checked by the trainer. */
int mlsae_run_config_validate(const mlsae_run_config *cfg, mlsae_error *err);

/* Checks that need the model: n_latents = expansion_factor * d_model must
 * fit an int32, k <= n_latents, auxk <= n_latents, every layer index <
 * n_model_layers. Errors name the option and both numbers. */
/* Resuming: `saved` is the configuration the run was made with (defaults +
 * its run.yaml), `now` the effective one of the resumed invocation. Options
 * that only set the budget (data.max_tokens, trainer.max_steps), logging,
 * validation and checkpoint cadence, the output directory, device, threads,
 * project and run names may differ (the new values apply); any other
 * difference (sizes, k, the optimizer, the model, the data and its order,
 * the seed) is an error naming the option and both values. `where` names
 * the checkpoint in messages. */
int mlsae_run_config_reconcile(const mlsae_run_config *saved, const mlsae_run_config *now,
                               const char *where, mlsae_error *err);
/* 1 when the option (its full key) may change on resume. */
int mlsae_run_config_resume_mutable(const char *key);
/* One option of two configurations: 1 when equal (NaN == NaN for reals). */
int mlsae_run_config_option_equal(const mlsae_run_config *a, const mlsae_run_config *b,
                                  const mlsae_option *o);
/* One option's value as text for messages ("null", "true", "[0, 1]", ...). */
void mlsae_run_config_value_text(const mlsae_run_config *cfg, const mlsae_option *o, char *out,
                                 size_t n);

/* data.max_length against the model's context (config.json
 * max_position_embeddings): a longer sequence is refused, naming both. */
int mlsae_run_config_check_context(const mlsae_run_config *cfg, int64_t max_positions,
                                   const char *model, mlsae_error *err);

int mlsae_run_config_check_model(const mlsae_run_config *cfg, int64_t d_model,
                                 int64_t n_model_layers, mlsae_error *err);

/* The effective configuration as YAML (the reference's nested layout) that
 * mlsae_run_config_load_yaml reads back to an equal configuration. *text is
 * malloc'd and NUL-terminated. */
int mlsae_run_config_to_yaml(const mlsae_run_config *cfg, char **text, size_t *len,
                             mlsae_error *err);
int mlsae_run_config_write_yaml(const mlsae_run_config *cfg, FILE *out, mlsae_error *err);

/* Field-by-field equality (null reals compare equal). */
int mlsae_run_config_equal(const mlsae_run_config *a, const mlsae_run_config *b);

/* --help text: every option, its flags, default and meaning. */
void mlsae_run_config_print_help(FILE *out);

/* ---- derived quantities ----------------------------------------------------- */

typedef struct mlsae_run_derived {
    int64_t tokens_per_micro_batch; /* batch_size * max_length */
    int64_t max_micro_batches;      /* ceil(max_tokens / tokens_per_micro_batch) (data.max_steps) */
    int64_t max_steps;              /* trainer.max_steps, or ceil(max_micro_batches / accumulate) */
    /* dead_tokens_threshold // (batch_size * max_length * accumulate_grad_batches)
     * (SPEC 4, sae/mlsae.h: mlsae_dead_steps_threshold), as the reference
     * computes it. The reference then compares it against last_nonzero, a
     * counter that advances once per forward call, i.e. per MICRO-batch, not
     * per optimizer step: with the defaults 10,000,000 // (1 * 2048 * 64) = 76
     * micro-batches (155,648 tokens), not 10M tokens. We reproduce this. */
    int64_t dead_steps_threshold;
    int64_t log_every_n_steps;      /* trainer.log_every_n_steps, null -> 50 */
    int64_t limit_test_batches;     /* = max_micro_batches, as the reference's test */
} mlsae_run_derived;

void mlsae_run_config_derive(const mlsae_run_config *cfg, mlsae_run_derived *d);

#endif
