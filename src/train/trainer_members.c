/* The SAEs of a training run: one, or a sweep's (sweep.h); created,
 * loaded from --init or resumed, and their files; trainer_internal.h. */
#include "config.h"
#include "train/trainer_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/lowp.h"
#include "core/atomic_file.h"
#include "core/paths.h"
#include "sae/checkpoint.h"
#include "train/sweep.h"
#include "train/train_dist.h"

/* dst = "a/b" (b NULL: "a"), or an error naming the path when it does not
 * fit. */
static int join(char *dst, size_t n, const char *a, const char *b, mlsae_error *err)
{
    int w = b ? snprintf(dst, n, "%s/%s", a, b) : snprintf(dst, n, "%s", a);
    if (w < 0 || (size_t)w >= n) return mlsae_fail(err, "%s/%s: path too long", a, b ? b : "");
    return 0;
}

static int sae_from_config(trainer *t, member *mb, mlsae_error *err)
{
    const mlsae_run_config *cfg = mb->cfg;
    mlsae_sae_config sc;
    mlsae_sae_config_default(&sc, t->s.d_model, (int)cfg->autoencoder.expansion_factor);
    sc.k = (int)cfg->autoencoder.k;
    sc.auxk = cfg->autoencoder.auxk == MLSAE_CONFIG_NONE ? 0 : (int)cfg->autoencoder.auxk;
    sc.auxk_coef = isnan(cfg->autoencoder.auxk_coef) ? 0.0f : (float)cfg->autoencoder.auxk_coef;
    sc.dead_steps_threshold = t->derived.dead_steps_threshold;
    sc.dead_threshold = (float)cfg->autoencoder.dead_threshold;
    sc.standardize = cfg->autoencoder.standardize;
    sc.lr = (float)cfg->autoencoder.lr;
    sc.accumulate_grad_batches = (int)cfg->trainer.accumulate_grad_batches;
    if (mlsae_sae_config_check(&sc, err)) return -1;
    return mlsae_sae_create(&sc, t->s.sae_be, (uint64_t)cfg->seed, &mb->sae, err);
}

/* The SAE of cfg->init: its shape and thresholds (config.json), with the
 * trainer's options (lr, auxk_coef, accumulation) and a new optimizer. A
 * shape option given on top that disagrees with the checkpoint is an error:
 * silently training another shape than asked would be a guess. */
static int sae_from_init(trainer *t, member *mb, mlsae_error *err)
{
    const mlsae_run_config *cfg = mb->cfg;
    if (mlsae_ckpt_load(cfg->init, t->s.sae_be, &mb->sae, err)) return -1;
    mlsae_sae_config sc = *mlsae_sae_get_config(mb->sae);
    if (sc.n_inputs != t->s.d_model)
        return mlsae_fail(err, "%s: d_model %d of the activations does not match n_inputs %d of "
                          "%s", cfg->data.activations[0] ? cfg->data.activations : cfg->model_name,
                          t->s.d_model, sc.n_inputs, cfg->init);
    mlsae_run_config *def = malloc(sizeof *def);
    if (!def) return mlsae_fail(err, "out of memory");
    mlsae_run_config_defaults(def);
    const mlsae_autoencoder_config *a = &cfg->autoencoder, *d = &def->autoencoder;
    int64_t auxk = a->auxk == MLSAE_CONFIG_NONE ? 0 : a->auxk;
    const char *bad = NULL;
    if (a->expansion_factor != d->expansion_factor &&
        a->expansion_factor * sc.n_inputs != sc.n_latents)
        bad = "expansion_factor";
    else if (a->k != d->k && a->k != sc.k) bad = "k";
    else if (a->auxk != d->auxk && auxk != sc.auxk) bad = "auxk";
    else if (a->dead_threshold != d->dead_threshold && (float)a->dead_threshold != sc.dead_threshold)
        bad = "dead_threshold";
    else if (a->standardize != d->standardize && a->standardize != sc.standardize)
        bad = "standardize";
    const int dtt_given = a->dead_tokens_threshold != d->dead_tokens_threshold;
    free(def);
    if (bad)
        return mlsae_fail(err, "init: %s fixes autoencoder.%s in its config.json; drop that "
                          "option (lr, auxk_coef and the trainer's options apply)", cfg->init,
                          bad);
    sc.lr = (float)a->lr;
    sc.auxk_coef = isnan(a->auxk_coef) ? 0.0f : (float)a->auxk_coef;
    sc.accumulate_grad_batches = (int)cfg->trainer.accumulate_grad_batches;
    if (dtt_given) sc.dead_steps_threshold = t->derived.dead_steps_threshold;
    return mlsae_sae_set_config(mb->sae, &sc, err);
}

/* trainer.precision on the SAE (fresh or resumed: checkpoints do not
 * record it); the transformer's is set by the session. */
static int apply_precision(trainer *t, member *mb, mlsae_error *err)
{
    mlsae_precision prec = MLSAE_PRECISION_32;
    if (mlsae_precision_parse(t->cfg->trainer.precision, &prec))
        return mlsae_fail(err, "trainer.precision '%s': not computed", t->cfg->trainer.precision);
    if (prec != MLSAE_PRECISION_32 && mb == t->mb)
        trainer_msg(t, "precision %s: SAE encoder and transformer products with %s",
            mlsae_precision_name(prec),
            mlsae_lowp_describe(t->s.sae_be, mlsae_precision_lowp(prec)));
    return mlsae_sae_set_precision(mb->sae, prec, err);
}

/* The SAEs of the run: one with the run's configuration, or a sweep's,
 * each with its own configuration (sweep.h). A sweep resumed from its
 * directory takes its members from sweep.json; lists given again must name
 * the same members. */
int trainer_make_members(trainer *t, mlsae_train_summary *summary, mlsae_error *err)
{
    const mlsae_run_config *cfg = t->cfg;
    mlsae_sweep_member list[MLSAE_CONFIG_MAX_MEMBERS], given[MLSAE_CONFIG_MAX_MEMBERS];
    int n = 0, n_given = 0;
    if (mlsae_sweep_members(cfg, given, &n_given, err)) return -1;
    const int resume_sweep = cfg->trainer.checkpoint_path[0] &&
                             mlsae_sweep_is_root(cfg->trainer.checkpoint_path);
    if (resume_sweep) {
        if (mlsae_sweep_read(cfg->trainer.checkpoint_path, list, &n, err)) return -1;
        int same = n_given == n;
        for (int i = 0; same && i < n; i++) same = strcmp(list[i].name, given[i].name) == 0;
        if (n_given > 1 && !same)
            return mlsae_fail(err, "--resume %s: the sweep's members are those of its sweep.json "
                              "(%d SAEs, the first %s); drop the expansion_factor and k lists",
                              cfg->trainer.checkpoint_path, n, list[0].name);
    } else {
        memcpy(list, given, sizeof list[0] * (size_t)n_given);
        n = n_given;
    }
    t->sweep = n > 1 || resume_sweep;
    if (t->sweep && cfg->init[0])
        return mlsae_fail(err, "init: %s fixes the SAE's expansion_factor and k; a sweep cannot "
                          "start from it", cfg->init);
    t->mb = calloc((size_t)n, sizeof *t->mb);
    if (!t->mb) return mlsae_fail(err, "out of memory");
    t->n_mb = n;
    summary->n_members = n;
    for (int i = 0; i < n; i++) {
        member *mb = &t->mb[i];
        mb->sum = &summary->members[i];
        snprintf(mb->label, sizeof mb->label, "x%lldk%lld", (long long)list[i].expansion_factor,
                 (long long)list[i].k);
        if (!t->sweep) {
            mb->cfg = cfg;
            if (join(mb->out_dir, sizeof mb->out_dir, t->out_dir, NULL, err)) return -1;
        } else {
            if (!(mb->own_cfg = malloc(sizeof *mb->own_cfg)))
                return mlsae_fail(err, "out of memory");
            if (mlsae_sweep_member_config(cfg, t->out_dir, &list[i], mb->own_cfg, err))
                return -1;
            mb->cfg = mb->own_cfg;
            memcpy(mb->sum->name, list[i].name, sizeof mb->sum->name);
            if (join(mb->out_dir, sizeof mb->out_dir, t->out_dir, list[i].name, err)) return -1;
        }
        if (join(mb->ckpt_dir, sizeof mb->ckpt_dir, mb->out_dir, "checkpoints/last", err))
            return -1;
    }
    return 0;
}

/* A sweep's member resumed from <sweep>/<name>/checkpoints/last: its
 * run.yaml against its configuration now, as the command line checks a
 * single run's. */
static int reconcile_member(const member *mb, mlsae_error *err)
{
    char path[MLSAE_CONFIG_STR_MAX + 16];
    snprintf(path, sizeof path, "%s/run.yaml", mb->cfg->trainer.checkpoint_path);
    mlsae_run_config *saved = malloc(sizeof *saved);
    if (!saved) return mlsae_fail(err, "out of memory");
    mlsae_run_config_defaults(saved);
    int rc = mlsae_run_config_load_yaml(saved, path, err) ||
             mlsae_run_config_reconcile(saved, mb->cfg, mb->cfg->trainer.checkpoint_path, err);
    free(saved);
    return rc ? -1 : 0;
}

/* Load or create member mb's SAE; on resume its training state must be the
 * first member's (a sweep's members stop and checkpoint together). */
int trainer_open_member(trainer *t, member *mb, mlsae_error *err)
{
    const mlsae_run_config *cfg = mb->cfg;
    const int resuming = cfg->trainer.checkpoint_path[0] != 0;
    if (mlsae_run_config_check_model(cfg, t->s.d_model, t->s.n_model_layers, err)) return -1;
    if (resuming) {
        mlsae_train_state st;
        if (t->sweep && reconcile_member(mb, err)) return -1;
        if (mlsae_train_checkpoint_load(cfg->trainer.checkpoint_path, t->s.sae_be, &mb->sae, &st,
                                        err))
            return -1;
        const mlsae_sae_config *sc = mlsae_sae_get_config(mb->sae);
        if (sc->n_inputs != t->s.d_model)
            return mlsae_fail(err, "%s: checkpoint has n_inputs %d but the model's d_model is %d",
                              cfg->trainer.checkpoint_path, sc->n_inputs, t->s.d_model);
        if (mb == t->mb) {
            t->st = st;
        } else if (memcmp(&st.data, &t->st.data, sizeof st.data) != 0 ||
                   st.micro_batches != t->st.micro_batches || st.tokens != t->st.tokens ||
                   st.ranks != t->st.ranks) {
            return mlsae_fail(err, "%s: stopped at micro-batch %lld, but %s at %lld: the members "
                              "of a sweep resume from the same batch (resume them one by one "
                              "with --resume DIR/checkpoints/last)",
                              cfg->trainer.checkpoint_path, (long long)st.micro_batches,
                              t->mb[0].cfg->trainer.checkpoint_path,
                              (long long)t->st.micro_batches);
        }
    } else if (cfg->init[0] ? sae_from_init(t, mb, err) : sae_from_config(t, mb, err)) {
        return -1;
    }
    if (apply_precision(t, mb, err)) return -1;
    if (mlsae_train_dist_attach(mb->sae, resuming ? (t->st.ranks > 0 ? t->st.ranks : 1) : 0,
                                cfg->data.batch_size, cfg->trainer.checkpoint_path, err))
        return -1;
    /* named by the SAE's own shape (an --init or resumed SAE has its own) */
    const mlsae_sae_config *sc = mlsae_sae_get_config(mb->sae);
    char name[768];
    mlsae_sweep_name(cfg->model_name, sc->n_latents / sc->n_inputs, sc->k, name, sizeof name);
    if (!t->sweep && join(mb->sum->name, sizeof mb->sum->name, name, NULL, err)) return -1;
    return join(mb->sae_dir, sizeof mb->sae_dir, mb->out_dir, name, err);
}

/* The effective configuration of member mb, for the record. */
static int write_config_yaml(const member *mb, mlsae_error *err)
{
    char path[4300];
    char *yaml = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/config.yaml", mb->out_dir);
    int bad = mlsae_run_config_to_yaml(mb->cfg, &yaml, &len, err) ||
              mlsae_write_file_atomic(path, yaml, len, err);
    free(yaml);
    return bad ? -1 : 0;
}

int trainer_write_configs(trainer *t, mlsae_error *err)
{
    if (!t->config_pending || t->rank != 0) return 0;
    for (int i = 0; i < t->n_mb; i++)
        if (write_config_yaml(&t->mb[i], err)) return -1;
    t->config_pending = 0;
    return 0;
}

/* Rank 0: member mb's directories, config.yaml and metrics log. */
int trainer_member_files(trainer *t, member *mb, int resuming, int write_config,
                         mlsae_error *err)
{
    char path[4300];
    if (trainer_note_created(t, mb->out_dir, 1, err) || mlsae_mkdir_p(mb->out_dir, err)) return -1;
    snprintf(path, sizeof path, "%s/checkpoints", mb->out_dir);
    if (trainer_note_created(t, path, 0, err) || mlsae_mkdir_p(path, err)) return -1;
    snprintf(path, sizeof path, "%s/config.yaml", mb->out_dir);
    if (trainer_note_created(t, path, 0, err)) return -1;
    if (write_config && write_config_yaml(mb, err)) return -1;
    mlsae_metrics_log_options lo = {MLSAE_METRICS_JSONL, resuming, "micro_batch",
                                    (double)t->st.micro_batches};
    snprintf(path, sizeof path, "%s/metrics.jsonl", mb->out_dir);
    if (trainer_note_created(t, path, 0, err)) return -1;
    return mlsae_metrics_log_open(&mb->log, path, &lo, err);
}
