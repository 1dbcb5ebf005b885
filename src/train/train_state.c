#include "config.h"
#include "train/train_state.h"

#include <stdlib.h>
#include <string.h>

#include "core/atomic_file.h"
#include "core/paths.h"
#include "sae/checkpoint.h"

#define STATE_MAGIC 0x314e5254u /* "TRN1" */

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

void mlsae_train_state_encode(const mlsae_train_state *st, uint8_t out[MLSAE_TRAIN_STATE_BYTES])
{
    put_u64(out, STATE_MAGIC);
    put_u64(out + 8, st->data.group_doc);
    put_u64(out + 16, st->data.group_seq);
    put_u64(out + 24, st->data.batches);
    put_u64(out + 32, st->data.tokens);
    put_u64(out + 40, (uint64_t)st->micro_batches);
    put_u64(out + 48, st->tokens);
    put_u64(out + 56, (uint64_t)(st->ranks > 0 ? st->ranks : 1));
}

int mlsae_train_state_decode(const uint8_t *in, size_t len, mlsae_train_state *st,
                             const char *where, mlsae_error *err)
{
    if ((len != MLSAE_TRAIN_STATE_BYTES && len != 56) || get_u64(in) != STATE_MAGIC)
        return mlsae_fail(err, "%s: not a training checkpoint of this program (pipeline state "
                          "missing or of another version)", where);
    st->data.group_doc = get_u64(in + 8);
    st->data.group_seq = get_u64(in + 16);
    st->data.batches = get_u64(in + 24);
    st->data.tokens = get_u64(in + 32);
    st->micro_batches = (int64_t)get_u64(in + 40);
    st->tokens = get_u64(in + 48);
    st->ranks = len == MLSAE_TRAIN_STATE_BYTES ? (int64_t)get_u64(in + 56) : 1;
    if (st->ranks < 1 || st->ranks > INT32_MAX)
        return mlsae_fail(err, "%s: training state names %lld processes", where,
                          (long long)st->ranks);
    return 0;
}

int mlsae_train_checkpoint_save(mlsae_sae *sae, const char *dir, const mlsae_run_config *cfg,
                                const mlsae_train_state *st, mlsae_error *err)
{
    uint8_t bytes[MLSAE_TRAIN_STATE_BYTES];
    mlsae_train_state_encode(st, bytes);
    mlsae_ckpt_resume resume = {st->micro_batches, bytes, sizeof bytes};
    char *stage = NULL;
    if (mlsae_ckpt_stage_begin(dir, &stage, err)) return -1;
    char *yaml = NULL;
    size_t yaml_len = 0;
    char path[4200];
    int rc = mlsae_ckpt_write_files(sae, stage, &resume, err);
    if (!rc) rc = mlsae_run_config_to_yaml(cfg, &yaml, &yaml_len, err);
    if (!rc && mlsae_path_join(path, sizeof path, stage, "run.yaml"))
        rc = mlsae_fail(err, "%s: path too long", stage);
    if (!rc) rc = mlsae_write_file_atomic(path, yaml, yaml_len, err);
    if (!rc) rc = mlsae_ckpt_stage_commit(stage, dir, err);
    if (rc) mlsae_ckpt_stage_abort(stage);
    free(yaml);
    free(stage);
    return rc;
}

int mlsae_train_checkpoint_load(const char *dir, mlsae_backend *be, mlsae_sae **sae,
                                mlsae_train_state *st, mlsae_error *err)
{
    if (!mlsae_ckpt_has_state(dir))
        return mlsae_fail(err, "%s: no training_state.safetensors here: not a resumable "
                          "checkpoint (the run's checkpoints/last directory is)", dir);
    if (mlsae_ckpt_load(dir, be, sae, err)) return -1;
    mlsae_ckpt_resume_out ro = {0};
    int rc = mlsae_ckpt_load_state(*sae, dir, &ro, err);
    if (!rc) rc = mlsae_train_state_decode(ro.user_state, ro.user_state_len, st, dir, err);
    /* the pipeline's count and the SAE's data position are the same number */
    if (!rc && (st->micro_batches < 0 || st->micro_batches != ro.data_position))
        rc = mlsae_fail(err, "%s: the pipeline state counts %lld micro-batches, the training "
                        "state %lld", dir, (long long)st->micro_batches,
                        (long long)ro.data_position);
    free(ro.user_state);
    if (rc) {
        mlsae_sae_free(*sae);
        *sae = NULL;
    }
    return rc;
}
