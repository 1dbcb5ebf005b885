/* The table of run options: the single source of YAML keys, flags,
 * defaults, ranges and help text (see run_config.h). */
#include "config.h"
#include "config/run_config.h"

#include <stddef.h>
#include <string.h>

#define F(field) offsetof(mlsae_run_config, field), sizeof(((mlsae_run_config *)0)->field)
#define BIG 9.0e15 /* below 2^53: every integer up to it is exact in a double */
#define NONE_RANGE 0, 0

static int check_tuned_lens(const mlsae_run_config *cfg, char *why, size_t n)
{
    if (!cfg->autoencoder.tuned_lens) return 0;
    snprintf(why, n, "a tuned lens is not supported; set it to false");
    return -1;
}

static int check_precision(const mlsae_run_config *cfg, char *why, size_t n)
{
    static const char *known[] = {"16-mixed", "bf16-mixed", "32-true", "32", "16-true",
                                  "bf16-true", "64-true", "64", "16", "bf16"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(cfg->trainer.precision, known[i]) == 0) return 0;
    snprintf(why, n, "unknown precision '%s' (one of 16-mixed, bf16-mixed, 32-true, 32, "
             "16-true, bf16-true, 64-true, 64, 16, bf16)", cfg->trainer.precision);
    return -1;
}

static int check_device_name(const char *d, char *why, size_t n)
{
    if (strcmp(d, "auto") == 0 || strcmp(d, "cpu") == 0 || strcmp(d, "opencl") == 0) return 0;
    if (strncmp(d, "opencl:", 7) == 0 && d[7]) {
        const char *p = d + 7;
        while (*p >= '0' && *p <= '9') p++;
        if (*p == '\0' && p - (d + 7) <= 4) return 0;
    }
    snprintf(why, n, "unknown device '%s' (auto, cpu, opencl or opencl:N)", d);
    return -1;
}

static int check_device(const mlsae_run_config *cfg, char *why, size_t n)
{
    return check_device_name(cfg->device, why, n);
}

static int check_model_device(const mlsae_run_config *cfg, char *why, size_t n)
{
    return check_device_name(cfg->model_device, why, n);
}

static const mlsae_option options[] = {
    /* autoencoder.* — the reference's MLSAEConfig */
    {"autoencoder.expansion_factor", "expansion-factor x", MLSAE_OPT_INT,
     F(autoencoder.expansion_factor), "16", 0, 1, 65536, 0, "N",
     "latents per input dimension: n_latents = expansion_factor * d_model", NULL},
    {"autoencoder.k", "k", MLSAE_OPT_INT, F(autoencoder.k), "32", 0, 1, 1048576, 0, "N",
     "number of largest latents kept by TopK (must be <= n_latents)", NULL},
    {"autoencoder.auxk", "", MLSAE_OPT_INT, F(autoencoder.auxk), "256", 1, 1, 1048576, 0, "N",
     "number of dead latents used to model the residual error (null: no AuxK loss)", NULL},
    {"autoencoder.auxk_coef", "", MLSAE_OPT_REAL, F(autoencoder.auxk_coef), "0.03125", 1, 0,
     1e6, 0, "FLOAT", "coefficient of the auxiliary (AuxK) loss (null: 0)", NULL},
    {"autoencoder.dead_tokens_threshold", "", MLSAE_OPT_INT,
     F(autoencoder.dead_tokens_threshold), "10000000", 0, 1, BIG, 0, "N",
     "tokens without activation after which a latent is flagged dead", NULL},
    {"autoencoder.dead_threshold", "", MLSAE_OPT_REAL, F(autoencoder.dead_threshold), "0.001",
     0, 0, 1e30, 0, "FLOAT", "activation above which a latent counts as active", NULL},
    {"autoencoder.lr", "", MLSAE_OPT_REAL, F(autoencoder.lr), "0.0001", 0, 0, 1e3, 1, "FLOAT",
     "Adam learning rate", NULL},
    {"autoencoder.standardize", "", MLSAE_OPT_BOOL, F(autoencoder.standardize), "true", 0,
     NONE_RANGE, 0, "BOOL", "standardize each input vector to zero mean, unit std", NULL},
    {"autoencoder.skip_special_tokens", "", MLSAE_OPT_BOOL, F(autoencoder.skip_special_tokens),
     "true", 0, NONE_RANGE, 0, "BOOL", "ignore positions that hold special tokens", NULL},
    {"autoencoder.tuned_lens", "", MLSAE_OPT_BOOL, F(autoencoder.tuned_lens), "false", 0,
     NONE_RANGE, 0, "BOOL", "apply a pretrained tuned lens (not supported: must be false)",
     check_tuned_lens},

    /* data.* — the reference's DataConfig */
    {"data.path", "data dataset", MLSAE_OPT_STRING, F(data.path), "monology/pile-uncopyrighted",
     0, NONE_RANGE, 0, "PATH",
     "dataset: .jsonl/.jsonl.zst/.txt file, directory or glob (default: the reference's Hub name)",
     NULL},
    {"data.name", "", MLSAE_OPT_STRING, F(data.name), "null", 1, NONE_RANGE, 0, "NAME",
     "subset of a Hub dataset (null: none)", NULL},
    {"data.max_length", "max-length", MLSAE_OPT_INT, F(data.max_length), "2048", 0, 1, 1048576,
     0, "N", "tokens per sequence (at most the model's context)", NULL},
    {"data.batch_size", "batch-size", MLSAE_OPT_INT, F(data.batch_size), "1", 0, 1, 1048576, 0,
     "N", "sequences per micro-batch", NULL},
    {"data.max_tokens", "max-tokens", MLSAE_OPT_REAL, F(data.max_tokens), "1000000000.0", 0, 0,
     1e18, 1, "N", "tokens to train (or test) on", NULL},
    {"data.num_workers", "workers", MLSAE_OPT_INT, F(data.num_workers), "null", 1, 0, 1024, 0,
     "N", "data-loading (tokenizer) threads (null: automatic)", NULL},

    /* trainer.* — the reference's TrainerConfig, plus checkpoint_every_n_steps */
    {"trainer.checkpoint_path", "resume", MLSAE_OPT_STRING, F(trainer.checkpoint_path), "null", 1,
     NONE_RANGE, 0, "DIR", "checkpoint to resume training from (null: start afresh)", NULL},
    {"trainer.precision", "", MLSAE_OPT_STRING, F(trainer.precision), "16-mixed", 0, NONE_RANGE,
     0, "STR", "the reference's Lightning precision; recorded only (we compute in float32)",
     check_precision},
    {"trainer.accumulate_grad_batches", "accumulate", MLSAE_OPT_INT,
     F(trainer.accumulate_grad_batches), "64", 0, 1, 1048576, 0, "N",
     "micro-batches whose gradients are summed per optimizer step", NULL},
    {"trainer.max_steps", "", MLSAE_OPT_INT, F(trainer.max_steps), "null", 1, 1, BIG, 0, "N",
     "optimizer steps (null: ceil(max_tokens / (batch_size*max_length) / accumulate))", NULL},
    {"trainer.log_every_n_steps", "log-every", MLSAE_OPT_INT, F(trainer.log_every_n_steps), "8",
     1, 1, BIG, 0, "N", "optimizer steps between training metric rows (null: 50)", NULL},
    {"trainer.val_check_interval", "", MLSAE_OPT_INT, F(trainer.val_check_interval), "4096", 1, 1,
     BIG, 0, "N", "micro-batches between validation runs (null: only at the end)", NULL},
    {"trainer.limit_val_batches", "", MLSAE_OPT_INT, F(trainer.limit_val_batches), "512", 1, 0,
     BIG, 0, "N", "batches per validation run (0: no validation; null: all)", NULL},
    {"trainer.default_root_dir", "out", MLSAE_OPT_STRING, F(trainer.default_root_dir), "null", 1,
     NONE_RANGE, 0, "DIR", "output directory for checkpoints and logs (null: current directory)",
     NULL},
    {"trainer.checkpoint_every_n_steps", "checkpoint-every", MLSAE_OPT_INT,
     F(trainer.checkpoint_every_n_steps), "64", 0, 0, BIG, 0, "N",
     "optimizer steps between checkpoints (0: only at the end and on interrupt)", NULL},

    /* top level — the reference's RunConfig */
    {"seed", "", MLSAE_OPT_INT, F(seed), "42", 0, 0, 4294967295.0, 0, "N",
     "seed of every random choice (initialisation, sampling)", NULL},
    {"model_name", "model", MLSAE_OPT_STRING, F(model_name), "EleutherAI/pythia-70m-deduped", 0,
     NONE_RANGE, 0, "NAME", "GPT-NeoX/Pythia model: Hub name or local directory", NULL},
    {"layers", "", MLSAE_OPT_LAYERS, F(layers), "null", 1, 0, 1023, 0, "LIST",
     "layers to train on, e.g. 0,1,2 or [0, 1, 2] (null: all layers)", NULL},
    {"project", "", MLSAE_OPT_STRING, F(project), "null", 1, NONE_RANGE, 0, "NAME",
     "the reference's Weights & Biases project; recorded only", NULL},
    {"run", "", MLSAE_OPT_STRING, F(run), "null", 1, NONE_RANGE, 0, "NAME",
     "name of the run, recorded in its outputs (null: none)", NULL},

    /* ours */
    {"device", "", MLSAE_OPT_STRING, F(device), "auto", 0, NONE_RANGE, 0, "DEV",
     "compute device of the SAE: auto, cpu, opencl or opencl:N", check_device},
    {"model_device", "", MLSAE_OPT_STRING, F(model_device), "cpu", 0, NONE_RANGE, 0, "DEV",
     "compute device of the transformer; on another device than the SAE's it runs a batch "
     "ahead, overlapped", check_model_device},
    {"threads", "j", MLSAE_OPT_INT, F(threads), "0", 0, 0, 4096, 0, "N",
     "CPU threads (0: all cores)", NULL},
    {"tokenizer", "", MLSAE_OPT_STRING, F(tokenizer), "null", 1, NONE_RANGE, 0, "FILE",
     "HF tokenizer.json (null: the model's own)", NULL},
};

const mlsae_option *mlsae_run_config_options(size_t *count)
{
    *count = sizeof options / sizeof options[0];
    return options;
}
