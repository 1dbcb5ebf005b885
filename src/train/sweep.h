/* A training sweep: the SAEs of the product expansion_factor x k (the
 * reference's SweepConfig, mlsae/trainer/config.py, iterates
 * product(model_name, expansion_factor, k); one model per sweep here, as
 * its SAEs share one transformer pass) trained from the same batches.
 *
 * Layout of a sweep's output directory <out>:
 *   <out>/sweep.json       {"members": [{"name": N, "expansion_factor": E,
 *                          "k": K}, ...]}, in training order; it marks <out>
 *                          as a sweep for --resume <out>
 *   <out>/<name>/          one member: exactly what a single run with
 *                          --out <out>/<name> writes (config.yaml,
 *                          metrics.jsonl, checkpoints/last, <name>/), byte
 *                          for byte, plus its summary row (trainer.h)
 * <name> is the reference's run name mlsae-<model>-x<E>-k<K> (get_repo_id
 * in mlsae/utils.py; mlsae_train_sae_name). */
#ifndef MLSAE_TRAIN_SWEEP_H
#define MLSAE_TRAIN_SWEEP_H

#include <stddef.h>
#include <stdint.h>
#include "config/run_config.h"
#include "core/status.h"

typedef struct mlsae_sweep_member {
    char name[256];
    int64_t expansion_factor, k;
} mlsae_sweep_member;

/* "mlsae-<basename of model_name>-x<E>-k<K>", the reference's run naming. */
void mlsae_sweep_name(const char *model_name, int64_t expansion_factor, int64_t k, char *out,
                      size_t n);

/* The SAEs cfg asks for: the product of its sweep lists (a missing list is
 * the scalar), expansion_factor outer, k inner; *n >= 1. out has room for
 * MLSAE_CONFIG_MAX_MEMBERS; a larger product is an error naming both
 * counts. */
int mlsae_sweep_members(const mlsae_run_config *cfg, mlsae_sweep_member *out, int *n,
                        mlsae_error *err);

/* 1 when dir holds a sweep.json. */
int mlsae_sweep_is_root(const char *dir);

/* <out_dir>/sweep.json, atomically. */
int mlsae_sweep_write(const char *out_dir, const mlsae_sweep_member *m, int n, mlsae_error *err);
/* Read <dir>/sweep.json; errors name the file and the entry. */
int mlsae_sweep_read(const char *dir, mlsae_sweep_member *out, int *n, mlsae_error *err);

/* The run configuration of member m: cfg with m's expansion_factor and k,
 * no sweep lists, trainer.default_root_dir <out_dir>/<m->name>, and when
 * resuming (cfg's checkpoint_path is the sweep's directory) checkpoint_path
 * <checkpoint_path>/<m->name>/checkpoints/last. Fails only on a path too
 * long. */
int mlsae_sweep_member_config(const mlsae_run_config *cfg, const char *out_dir,
                              const mlsae_sweep_member *m, mlsae_run_config *out,
                              mlsae_error *err);

#endif
