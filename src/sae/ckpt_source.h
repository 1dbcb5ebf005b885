/* What a `--checkpoint` argument names, resolved the same way by every
 * command that takes one (`mlsae test` and the analyses):
 *   - an existing directory (config.json + model.safetensors: ours, the
 *     reference's, or its -tfm variant);
 *   - otherwise, when it has the form owner/name and no such path exists,
 *     a Hugging Face repo id, found in or downloaded into the HF cache
 *     (hub/hub.h: mlsae_checkpoint_resolve).
 * A -tfm checkpoint's config.json also carries the run options of the
 * reference's Lightning module: mlsae_run_config_apply_checkpoint
 * (config/run_config.h) applies them to the base configuration, under YAML
 * files and the command line. */
#ifndef MLSAE_SAE_CKPT_SOURCE_H
#define MLSAE_SAE_CKPT_SOURCE_H

#include <stddef.h>
#include "core/status.h"

typedef struct mlsae_ckpt_source {
    char *dir;        /* the checkpoint directory (malloc'd) */
    char *repo_id;    /* the argument when it was a repo id, else NULL (malloc'd) */
    char name[1024];  /* its last path component as given, without trailing '/' */
} mlsae_ckpt_source;

/* Resolve arg at revision rev (NULL: main; a repo id only; may download).
 * On failure *src holds nothing to free. */
int mlsae_ckpt_source_resolve(const char *arg, const char *rev, mlsae_ckpt_source *src,
                              mlsae_error *err);
void mlsae_ckpt_source_free(mlsae_ckpt_source *src);

/* Whether arg would be looked up as a repo id (no download happens here). */
int mlsae_ckpt_source_is_repo_id(const char *arg);

#endif
