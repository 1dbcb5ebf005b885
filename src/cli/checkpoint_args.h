/* Command-line pieces shared by the commands that take a trained SAE
 * (--checkpoint DIR or a Hugging Face repo id, -tfm checkpoints). */
#ifndef MLSAE_CLI_CHECKPOINT_ARGS_H
#define MLSAE_CLI_CHECKPOINT_ARGS_H

#include <stddef.h>

/* Pull "FLAG VALUE" / "FLAG=VALUE" out of argv (it is not a run option):
 * 1 found (*value set, argv shortened), 0 absent, -1 FLAG without a value. */
int cli_take_value(int *argc, char **argv, const char *flag, const char **value);

/* The run options a -tfm checkpoint's config.json holds (model_name,
 * layers, max_length, batch_size, skip_special_tokens), as command-line
 * options to go before the user's. Appends to out (room for 10), their
 * text in store; returns how many (0 for a plain SAE). */
int cli_tfm_args(const char *dir, char **out, char *store, size_t store_n);

/* A checkpoint that is not a directory but looks like a repo id resolves
 * through the HF cache (downloading with progress): *ckpt then points to
 * *resolved (malloc'd) and *repo_id to the id. Prints its error; 0 or 1. */
int cli_resolve_checkpoint(const char *cmd, const char **ckpt, char **resolved,
                           const char **repo_id);

#endif
