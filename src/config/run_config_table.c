/* The table of run options: the single source of YAML keys, flags,
 * defaults, ranges and help text (see run_config.h). */
#include "config.h"
#include "config/run_config.h"
#include "backend/device_spec.h"
#include "backend/registry.h"
#include "hub/hub.h"
#include "backend/lowp.h"

#include <stddef.h>
#include <string.h>

#define F(field) offsetof(mlsae_run_config, field), sizeof(((mlsae_run_config *)0)->field)
#define BIG 9.0e15 /* below 2^53: every integer up to it is exact in a double */
#define NONE_RANGE 0, 0

static int check_lens_inverse(const mlsae_run_config *cfg, char *why, size_t n)
{
    if (strcmp(cfg->lens_inverse, "reference") == 0 || strcmp(cfg->lens_inverse, "exact") == 0)
        return 0;
    snprintf(why, n, "unknown lens inverse '%s' (reference or exact)", cfg->lens_inverse);
    return -1;
}

static int check_precision(const mlsae_run_config *cfg, char *why, size_t n)
{
    mlsae_precision p;
    if (mlsae_precision_parse(cfg->trainer.precision, &p) == 0) return 0;
    snprintf(why, n, "precision '%s' is not computed (one of 32, bf16-mixed, 16-mixed)",
             cfg->trainer.precision);
    return -1;
}

/* The device grammar (backend/device_spec.h); a plugin NAME must be one
 * this source tree builds or one the registry finds. */
static int check_device_name(const char *d, char *why, size_t n)
{
    mlsae_device_spec spec;
    mlsae_error err;
    if (mlsae_device_parse(d, &spec, &err) != 0) {
        snprintf(why, n, "%s", err.msg);
        return -1;
    }
    if (spec.kind != MLSAE_DEVICE_PLUGIN) return 0;
    char known[256];
    snprintf(known, sizeof known, "%s", mlsae_registry_known_plugins());
    for (char *save = NULL, *name = strtok_r(known, ",", &save); name;
         name = strtok_r(NULL, ",", &save))
        if (strcmp(name, spec.name) == 0) return 0;
    if (mlsae_registry_find(spec.name)) return 0;
    snprintf(why, n, "unknown device '%s' (cpu, auto, or NAME[:N] of a backend plugin: %s)", d,
             known[0] ? mlsae_registry_known_plugins() : "none built");
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

static int check_revision(const mlsae_run_config *cfg, char *why, size_t n)
{
    mlsae_error err;
    if (!cfg->revision[0] || mlsae_hub_check_revision(cfg->revision, &err) == 0) return 0;
    snprintf(why, n, "%s", err.msg);
    return -1;
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
     NONE_RANGE, 0, "BOOL", "apply a pretrained tuned lens to every layer's activations before "
     "the encoder, as the reference does (see lens, doc/lens.md)", NULL},

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
    {"data.activations", "activations", MLSAE_OPT_STRING, F(data.activations), "null", 1,
     NONE_RANGE, 0, "FILE",
     "train on saved activations instead of data.path + the model: safetensors 'inputs' F32 "
     "[n_batches, n_layers, batch, pos, d_model], one micro-batch per entry (null: none)",
     NULL},
    {"data.num_workers", "workers", MLSAE_OPT_INT, F(data.num_workers), "null", 1, 0, 1024, 0,
     "N", "data-loading (tokenizer) threads (null: automatic)", NULL},

    /* trainer.* — the reference's TrainerConfig, plus checkpoint_every_n_steps */
    {"trainer.checkpoint_path", "resume", MLSAE_OPT_STRING, F(trainer.checkpoint_path), "null", 1,
     NONE_RANGE, 0, "DIR", "checkpoint to resume training from (null: start afresh)", NULL},
    {"trainer.precision", "", MLSAE_OPT_STRING, F(trainer.precision), "32", 0, NONE_RANGE,
     0, "STR", "32 (float32), bf16-mixed or 16-mixed: the SAE encoder's and the "
     "transformer's products from bf16/fp16 inputs with float32 sums (doc/precision.md)",
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
    {"revision", "revision", MLSAE_OPT_STRING, F(revision), "null", 1, NONE_RANGE, 0, "REV",
     "hub revision of model_name: branch, tag (e.g. Pythia's step143000) or commit hash "
     "(null: main)", check_revision},
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
     "HF tokenizer.json (null: the model's own, else the bundled GPT-NeoX-20B one)", NULL},
    {"init", "", MLSAE_OPT_STRING, F(init), "null", 1, NONE_RANGE, 0, "DIR",
     "start from this MLSAE checkpoint (its config.json and weights; a new optimizer) instead "
     "of a fresh initialisation (null: fresh)", NULL},
    {"lens", "lens", MLSAE_OPT_STRING, F(lens), "null", 1, NONE_RANGE, 0, "DIR",
     "tuned lens for autoencoder.tuned_lens: a TunedLens.save directory (config.json + "
     "params.pt or params.safetensors) (null: the tuned-lens package's HF cache; a -lens-tfm "
     "checkpoint's own translators win)", NULL},
    {"lens_inverse", "lens-inverse", MLSAE_OPT_STRING, F(lens_inverse), "reference", 0,
     NONE_RANGE, 0, "MODE",
     "how test and validation undo the lens: reference (the reference's diagonal-only "
     "inverse, its numbers) or exact ((I+W)^-1, and the true path without the lens)",
     check_lens_inverse},
};

const mlsae_option *mlsae_run_config_options(size_t *count)
{
    *count = sizeof options / sizeof options[0];
    return options;
}
