/* mlsae.h: the public C API of libmlsae, Multi-Layer Sparse Autoencoders.
 *
 * A multi-layer SAE (MLSAE) is one TopK sparse autoencoder trained on the
 * residual stream of every layer of a GPT-NeoX (Pythia) transformer at once.
 * This API opens a compute device, loads the transformer and its tokenizer,
 * computes hidden states, loads, saves, trains and runs the SAE. Build with
 *
 *     cc prog.c $(pkg-config --cflags --libs libmlsae)
 *
 * ---- Handles -----------------------------------------------------------------
 *
 *   mlsae_device       a compute backend ("cpu", "opencl", "opencl:N", "auto")
 *   mlsae_transformer  a GPT-NeoX model on a device (hidden states)
 *   mlsae_autoencoder  a multi-layer TopK SAE on a device (encode, train)
 *   mlsae_vocab        a byte-level BPE tokenizer (tokenizer.json)
 *
 * Every handle is opaque, made by a *_open / *_load / *_new function and
 * released by its *_free function (which accepts NULL). A transformer or an
 * autoencoder borrows its device: free them before the device.
 * Parameters come in structs; get one filled with the defaults from its
 * *_default_params() function and change only the fields you need.
 *
 * ---- Shapes and units ----------------------------------------------------------
 *
 * Arrays are row-major, in host memory, owned by the caller; the library
 * never keeps a pointer to them after a call returns. Activations are
 * float32; token ids and latent indices are int32. "Layer L" is the residual
 * stream AFTER transformer layer L (0-based): never the embedding output,
 * never after the final LayerNorm. Activations of several layers are laid
 * out layer-major, [n_layers, rows_per_layer, d_model], which is what
 * mlsae_transformer_hidden_states() writes (rows = batch * seq) and what the
 * autoencoder functions read: every layer's vectors are rows of one batch,
 * as in the reference implementation (tim-lawson/mlsae).
 *
 * ---- Errors ----------------------------------------------------------------------
 *
 * Every function that can fail returns an mlsae_status: MLSAE_OK (0) on
 * success, a negative code otherwise. On failure a one-line message naming
 * the file, field or position at fault is stored as the calling thread's
 * last error, read with mlsae_last_error(). The message is per THREAD, not
 * per handle: constructors have no handle to hold it, and a vocab may be used
 * from several threads at once. Successful calls leave it unchanged. A failed
 * call leaves its outputs unspecified and its handles usable, and writes no
 * partial files (checkpoints are written to a temporary directory renamed
 * into place). The library never prints and never exits.
 *
 * ---- Threads ---------------------------------------------------------------------
 *
 * - mlsae_vocab: immutable once loaded; any number of threads may use one
 *   vocab at the same time.
 * - mlsae_device, mlsae_transformer, mlsae_autoencoder: one thread at a time
 *   per device. Handles on DIFFERENT devices may be used from different
 *   threads concurrently; a transformer and an autoencoder on the same device
 *   must not be used at the same time (lock around them).
 * - The CPU backend threads each operation with OpenMP; params.n_threads sets
 *   how many. libgomp busy-waits between parallel regions unless
 *   OMP_WAIT_POLICY=passive is set in the environment before the program
 *   starts; the mlsae tool sets it, and programs sharing cores should too.
 *
 * ---- Environment -----------------------------------------------------------------
 *
 *   MLSAE_PLUGIN_PATH  where backend plugins (mlsae-opencl.so) are looked up
 *                      before the installed plugin directory
 *   MLSAE_DATA_DIR     where the bundled tokenizer is looked up first
 *   HF_HUB_CACHE, HF_HOME, HF_HUB_OFFLINE, HF_ENDPOINT, HF_TOKEN
 *                      the Hugging Face hub cache and downloads, as in
 *                      huggingface_hub (mlsae_transformer_load)
 *
 * Each public function's declaration starts with MLSAE_API on the line that
 * names it; the library exports exactly these symbols.
 */
#ifndef MLSAE_H
#define MLSAE_H

#include <stddef.h>
#include <stdint.h>

#include "mlsae_version.h"

#if defined(__GNUC__) && __GNUC__ >= 4
#define MLSAE_API __attribute__((visibility("default")))
#else
#define MLSAE_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ==== Version and errors ================================================== */

/* The version of the library loaded at run time, "MAJOR.MINOR.PATCH"; compare
 * with MLSAE_VERSION_STRING, the version of the header compiled against. */
MLSAE_API const char *mlsae_version(void);

typedef enum mlsae_status {
    MLSAE_OK = 0,
    /* An argument failed the checks made before any work: a NULL handle or
     * pointer, a size out of range, a shape that does not match the handle. */
    MLSAE_ERR_INVALID = -1,
    /* An output buffer is too small; the size needed is returned. */
    MLSAE_ERR_SIZE = -2,
    /* The operation failed: a file or its format, a value in the input (a
     * token id, a layer index), the device, memory. */
    MLSAE_ERR_FAILED = -3
} mlsae_status;

/* The message of the last call that failed on the calling thread ("" if
 * none): one line, no trailing newline, valid until the next failing call on
 * this thread. */
MLSAE_API const char *mlsae_last_error(void);

/* A constant name for a status code ("ok", "invalid argument", ...). */
MLSAE_API const char *mlsae_status_string(mlsae_status status);

/* ==== Devices ===================================================================== */

typedef struct mlsae_device mlsae_device;

typedef struct mlsae_device_params {
    int n_threads; /* CPU threads for the CPU backend; 0 = one per online CPU */
} mlsae_device_params;

MLSAE_API mlsae_device_params mlsae_device_default_params(void);

/* Open a compute device by name: "cpu"; "opencl:N" (OpenCL device N,
 * counted across platforms as `mlsae devices` lists them; "opencl" is
 * "opencl:0"); "auto" (the first OpenCL GPU when the plugin loads and finds
 * one, else the CPU). params may be NULL (defaults). An unknown name, or a plugin, ICD
 * or device that is missing, is MLSAE_ERR_FAILED with a message naming it. */
MLSAE_API mlsae_status mlsae_device_open(const char *name, const mlsae_device_params *params,
                                         mlsae_device **out);
MLSAE_API void mlsae_device_free(mlsae_device *dev);

/* The backend's name ("cpu", "opencl") and a one-line description of the
 * device (e.g. "cpu: 2 threads, AVX2"); valid while dev lives. */
MLSAE_API const char *mlsae_device_backend(const mlsae_device *dev);
MLSAE_API const char *mlsae_device_describe(const mlsae_device *dev);

/* ==== Transformer (GPT-NeoX / Pythia) ============================================= */

typedef struct mlsae_transformer mlsae_transformer;

typedef struct mlsae_transformer_params {
    /* Rows (tokens) per chunk of the forward pass; scratch memory grows with
     * it. 0 = 2048. Whole sequences are never split. */
    int chunk_rows;
} mlsae_transformer_params;

MLSAE_API mlsae_transformer_params mlsae_transformer_default_params(void);

/* Load a GPT-NeoX model in Hugging Face format onto dev: name is a directory
 * holding config.json and model.safetensors (or a sharded
 * model.safetensors.index.json), or a hub repo id "org/name" (e.g.
 * "EleutherAI/pythia-70m-deduped") looked up in the hub cache and downloaded
 * into it when absent, unless HF_HUB_OFFLINE is set. Weights stored as F32,
 * F16 or BF16 are held as float32. The language-model head (embed_out) is
 * not loaded: this handle computes hidden states only. params may be NULL. */
MLSAE_API mlsae_status mlsae_transformer_load(mlsae_device *dev, const char *name,
                                              const mlsae_transformer_params *params,
                                              mlsae_transformer **out);
MLSAE_API void mlsae_transformer_free(mlsae_transformer *tfm);

/* From config.json: num_hidden_layers, hidden_size (d_model), vocab_size
 * (the padded row count of the embedding, e.g. 50304) and
 * max_position_embeddings (the longest sequence). */
MLSAE_API int mlsae_transformer_n_layers(const mlsae_transformer *tfm);
MLSAE_API int mlsae_transformer_d_model(const mlsae_transformer *tfm);
MLSAE_API int mlsae_transformer_vocab_size(const mlsae_transformer *tfm);
MLSAE_API int mlsae_transformer_max_positions(const mlsae_transformer *tfm);

/* The residual stream after each of the n_layers layers listed in layers[]
 * (0-based, any order, repeats allowed; layers = NULL with n_layers = 0 means
 * all layers in order) for tokens [batch, seq] (each id < vocab_size; seq <=
 * max_position_embeddings). out receives [n_layers, batch, seq, d_model]
 * floats, the layer-major layout the autoencoder reads with rows_per_layer =
 * batch * seq. Equal to Hugging Face's output_hidden_states[L + 1] (within
 * float32 rounding). A layer index or token id out of range is
 * MLSAE_ERR_FAILED with a message naming it and its position. */
MLSAE_API mlsae_status mlsae_transformer_hidden_states(mlsae_transformer *tfm,
                                                       const int32_t *tokens, int batch, int seq,
                                                       const int *layers, int n_layers,
                                                       float *out);

/* ==== Multi-layer TopK sparse autoencoder ========================================== */

typedef struct mlsae_autoencoder mlsae_autoencoder;

/* The configuration of a new SAE and its training (the reference's MLSAE
 * hyper-parameters; defaults in brackets). */
typedef struct mlsae_autoencoder_params {
    int n_inputs;                 /* d_model of the activations (required, no default) */
    int expansion_factor;         /* n_latents = expansion_factor * n_inputs [16] */
    int k;                        /* latents kept by TopK per vector, <= n_latents [32] */
    int auxk;                     /* dead latents in the auxiliary loss; 0 = none [256] */
    float auxk_coef;              /* weight of the auxiliary loss [1/32] */
    int64_t dead_steps_threshold; /* micro-batches without firing before a latent is dead
                                     [1e7 tokens // (2048 tokens * 64 micro-batches) = 76] */
    float dead_threshold;         /* activation above which a latent fired [1e-3] */
    int standardize;              /* standardize each input vector (mean 0, std 1) [1] */
    float lr, beta1, beta2, adam_eps; /* Adam [1e-4, 0.9, 0.999, 6.25e-10] */
    int accumulate_grad_batches;  /* micro-batches per Adam step [64] */
    uint64_t seed;                /* initialisation seed [42] */
} mlsae_autoencoder_params;

MLSAE_API mlsae_autoencoder_params mlsae_autoencoder_default_params(void);

/* A new SAE on dev with the reference's initialisation: encoder ~
 * U(-1/sqrt(n_inputs), 1/sqrt(n_inputs)) from seed, decoder = encoder^T with
 * unit-norm columns, pre_encoder_bias set to the geometric median of the
 * first training micro-batch. A field out of range is MLSAE_ERR_INVALID with
 * a message naming it. */
MLSAE_API mlsae_status mlsae_autoencoder_new(mlsae_device *dev,
                                             const mlsae_autoencoder_params *params,
                                             mlsae_autoencoder **out);

enum {
    /* load: also restore training_state.safetensors (Adam moments, pending
     * gradients, counters), so training continues bit-for-bit; fails when
     * the directory has none. save: also write it. */
    MLSAE_CHECKPOINT_TRAINING_STATE = 1u << 0
};

/* Load a checkpoint directory in the reference's format: config.json and
 * model.safetensors (encoder.weight [n_latents, n_inputs], decoder.weight
 * [n_inputs, n_latents], pre_encoder_bias [n_inputs], last_nonzero
 * [n_latents]), or the reference's "-tfm" directory (the whole Lightning
 * module; its SAE part is loaded). Without MLSAE_CHECKPOINT_TRAINING_STATE,
 * training would start afresh from these weights (Adam zero, counters zero). */
MLSAE_API mlsae_status mlsae_autoencoder_load(mlsae_device *dev, const char *dir,
                                              unsigned flags, mlsae_autoencoder **out);

/* Save to dir in the reference's format (the files above; the reference's
 * MLSAE.from_pretrained reads it), replacing dir atomically. */
MLSAE_API mlsae_status mlsae_autoencoder_save(mlsae_autoencoder *ae, const char *dir,
                                              unsigned flags);
MLSAE_API void mlsae_autoencoder_free(mlsae_autoencoder *ae);

MLSAE_API int mlsae_autoencoder_n_inputs(const mlsae_autoencoder *ae);
MLSAE_API int mlsae_autoencoder_n_latents(const mlsae_autoencoder *ae);
MLSAE_API int mlsae_autoencoder_k(const mlsae_autoencoder *ae);

/* Encode activations x [n_layers, rows_per_layer, n_inputs] (evaluation: no
 * dead-latent bookkeeping, no gradients; standardized per vector when the
 * SAE standardizes). For each of the rows = n_layers * rows_per_layer
 * vectors, in x's order: indices [rows, k] and values [rows, k] receive the
 * TopK latents sorted by value, largest first (values are ReLU'd, so >= 0;
 * ties in index order), and recons [rows, n_inputs] (may be NULL) the
 * reconstruction in x's units. */
MLSAE_API mlsae_status mlsae_autoencoder_encode(mlsae_autoencoder *ae, const float *x,
                                                int n_layers, int rows_per_layer,
                                                int32_t *indices, float *values, float *recons);

/* The figures of one training micro-batch. */
typedef struct mlsae_autoencoder_train_metrics {
    double loss_total;    /* loss_mse + loss_aux (not divided by accumulate_grad_batches) */
    double loss_mse;      /* mean over layers of MSE / Var(x of the layer) */
    double loss_aux;      /* auxk_coef * normalised AuxK MSE */
    double dead_fraction; /* fraction of latents dead after this micro-batch */
    int stepped;          /* 1 when this micro-batch completed an Adam step */
    int64_t step;         /* Adam steps taken so far */
    int64_t micro_batch;  /* micro-batches seen so far, this one included */
} mlsae_autoencoder_train_metrics;

/* One training micro-batch on x [n_layers, rows_per_layer, n_inputs], as the
 * reference's training step: on the very first micro-batch,
 * pre_encoder_bias = the geometric median of x; forward with dead-latent
 * bookkeeping and AuxK; the gradient of loss / accumulate_grad_batches is
 * accumulated; the decoder's columns are renormalised and the gradient's
 * parallel component removed; every accumulate_grad_batches micro-batches an
 * Adam step. metrics may be NULL. */
MLSAE_API mlsae_status mlsae_autoencoder_train_step(mlsae_autoencoder *ae, const float *x,
                                                    int n_layers, int rows_per_layer,
                                                    mlsae_autoencoder_train_metrics *metrics);

/* Take the Adam step now if micro-batches have accumulated since the last
 * one (as at the end of an epoch). *stepped (may be NULL) says whether it
 * did. */
MLSAE_API mlsae_status mlsae_autoencoder_flush(mlsae_autoencoder *ae, int *stepped);

typedef struct mlsae_autoencoder_train_params {
    int rows_per_batch; /* rows of every layer per micro-batch [2048] */
    /* Called after every micro-batch (may be NULL); a non-zero return stops
     * the run (without the final flush) and it returns MLSAE_ERR_FAILED. */
    int (*callback)(const mlsae_autoencoder_train_metrics *metrics, void *user_data);
    void *user_data;
} mlsae_autoencoder_train_params;

MLSAE_API mlsae_autoencoder_train_params mlsae_autoencoder_train_default_params(void);

/* A training run over the rows of x [n_layers, n_rows, n_inputs], in order:
 * micro-batch b holds rows [b * rows_per_batch, (b + 1) * rows_per_batch) of
 * every layer (the last one may be shorter), each trained with
 * mlsae_autoencoder_train_step; then mlsae_autoencoder_flush. metrics (may be
 * NULL) receives the last micro-batch's figures. params may be NULL. */
MLSAE_API mlsae_status mlsae_autoencoder_train(mlsae_autoencoder *ae, const float *x,
                                               int n_layers, int64_t n_rows,
                                               const mlsae_autoencoder_train_params *params,
                                               mlsae_autoencoder_train_metrics *metrics);

/* ==== Tokenizer ================================================================= */

typedef struct mlsae_vocab mlsae_vocab;

/* Load a Hugging Face tokenizer.json (byte-level BPE, as GPT-NeoX-20B and
 * Pythia use); path NULL loads the bundled GPT-NeoX-20B tokenizer, which
 * every Pythia model uses. Encoding equals HF tokenizers id for id. */
MLSAE_API mlsae_status mlsae_vocab_load(const char *path, mlsae_vocab **out);
MLSAE_API void mlsae_vocab_free(mlsae_vocab *vocab);

/* Ids run 0 .. n_tokens - 1 (50277 for GPT-NeoX-20B). */
MLSAE_API int32_t mlsae_vocab_n_tokens(const mlsae_vocab *vocab);
/* The end-of-text id ("<|endoftext|>", 0 for GPT-NeoX-20B), -1 when absent. */
MLSAE_API int32_t mlsae_vocab_eos(const mlsae_vocab *vocab);

/* Token ids of text[0..len) (any bytes; ill-formed UTF-8 is read as U+FFFD),
 * without BOS or EOS. *n_ids receives the number of ids; up to max_ids are
 * written to ids. Returns MLSAE_ERR_SIZE when max_ids < *n_ids (ids may be
 * NULL with max_ids 0 to ask for the count). */
MLSAE_API mlsae_status mlsae_tokenize(const mlsae_vocab *vocab, const char *text, size_t len,
                                      int32_t *ids, size_t max_ids, size_t *n_ids);

/* UTF-8 text of ids[0..n_ids), as HF's ByteLevel decoder makes it (with
 * skip_special, <|endoftext|> and <|padding|> are left out). *len receives
 * the text's length in bytes, without the NUL; text receives it
 * NUL-terminated when text_size > *len, else MLSAE_ERR_SIZE (text may be
 * NULL with text_size 0 to ask for the length). An unknown id is
 * MLSAE_ERR_FAILED with a message naming it and its position. */
MLSAE_API mlsae_status mlsae_detokenize(const mlsae_vocab *vocab, const int32_t *ids,
                                        size_t n_ids, int skip_special, char *text,
                                        size_t text_size, size_t *len);

#ifdef __cplusplus
}
#endif

#endif
