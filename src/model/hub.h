/* Resolving `--model NAME` (SPEC §8): a local directory, or a Hugging Face
 * repo id "org/name" found in the standard hub cache
 *   $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub,
 *   else ~/.cache/huggingface/hub
 * as models--org--name/snapshots/<rev>/, rev read from refs/main (or the only
 * snapshot when there is no ref). Nothing is downloaded: a repo that is not
 * cached is a one-line error naming the directory to fill. */
#ifndef MLSAE_MODEL_HUB_H
#define MLSAE_MODEL_HUB_H

#include "core/status.h"

/* The hub cache directory in effect (malloc'd), from the environment. */
char *mlsae_hub_cache_dir(void);

/* *dir_out: a malloc'd path to a directory holding config.json. */
int mlsae_model_resolve(const char *name, char **dir_out, mlsae_error *err);

#endif
