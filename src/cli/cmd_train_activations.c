/* mlsae train --activations FILE: train a multi-layer SAE on saved
 * residual-stream activations (SPEC §4), one micro-batch per entry of the
 * file, and write the checkpoint directory with metrics.jsonl. */
#include "config.h"
#include "cli/commands.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/safetensors.h"
#include "sae/checkpoint.h"
#include "sae/mlsae.h"

#define CMD "train"

static void usage(FILE *out)
{
    fprintf(out,
        "Usage: mlsae train --activations FILE --out DIR [OPTIONS]\n"
        "\n"
        "Train a multi-layer TopK sparse autoencoder on saved activations. FILE is a\n"
        "safetensors file with a tensor 'inputs' F32 [n_batches, n_layers, batch, pos,\n"
        "d_model]; each of its n_batches entries is one micro-batch (every layer's\n"
        "vectors are rows of one batch), consumed in order. The first micro-batch\n"
        "initialises pre_encoder_bias to the geometric median of its inputs; Adam steps\n"
        "every --trainer.accumulate_grad_batches micro-batches and once more at the end\n"
        "if micro-batches are left over (as at the end of an epoch).\n"
        "\n"
        "Output: DIR/config.json and DIR/model.safetensors (the reference's MLSAE\n"
        "format), DIR/training_state.safetensors (for --resume) and DIR/metrics.jsonl\n"
        "(per micro-batch: loss/total, loss/mse, loss/auxk, not divided by the\n"
        "accumulation count, and train/dead/abs, the fraction of dead latents). DIR is\n"
        "written atomically: it appears only when training has finished.\n"
        "\n"
        "Options:\n"
        "  --activations FILE                  input activations (required)\n"
        "  --out DIR                           output checkpoint directory (required)\n"
        "  --init DIR                          start from this MLSAE checkpoint: its\n"
        "                                      config.json (k, auxk, dead_steps_threshold,\n"
        "                                      dead_threshold, standardize) and weights;\n"
        "                                      otherwise a fresh run (Adam, bias init)\n"
        "  --resume DIR                        continue a run saved by this command (its\n"
        "                                      weights, Adam state, counters and data\n"
        "                                      position), bit-for-bit\n"
        "  --trainer.accumulate_grad_batches A micro-batches per Adam step (64)\n"
        "  --seed S                            initialisation seed (42)\n"
        "  --autoencoder.expansion_factor E    n_latents = E * d_model (16)\n"
        "  --autoencoder.k K                   latents kept per vector (32)\n"
        "  --autoencoder.auxk N|none           dead latents in the auxiliary loss (256)\n"
        "  --autoencoder.auxk_coef C           auxiliary loss coefficient (0.03125)\n"
        "  --autoencoder.dead_tokens_threshold T\n"
        "                                      tokens without firing before a latent is\n"
        "                                      dead (10000000); dead_steps_threshold =\n"
        "                                      T // (batch * pos * A), compared with a\n"
        "                                      counter that advances per micro-batch\n"
        "  --autoencoder.dead_steps_threshold N  set that threshold directly\n"
        "  --autoencoder.dead_threshold X      activation that counts as firing (0.001)\n"
        "  --autoencoder.lr LR                 Adam learning rate (0.0001)\n"
        "  --autoencoder.standardize true|false  standardise inputs (true)\n"
        "  --device DEV                        cpu, opencl[:N] or auto (cpu)\n"
        "  --threads N                         CPU threads (OpenMP default)\n"
        "  -q, --quiet                         no progress on stderr\n"
        "  -h, --help                          this help\n");
}

enum {
    OPT_ACT = 1000, OPT_OUT, OPT_INIT, OPT_RESUME, OPT_ACC, OPT_SEED, OPT_EF, OPT_K, OPT_AUXK,
    OPT_COEF, OPT_DTT, OPT_DST, OPT_DTH, OPT_LR, OPT_STD, OPT_DEVICE, OPT_THREADS
};

typedef struct train_opts {
    const char *activations, *out, *init, *resume, *device;
    long long acc, seed, ef, k, auxk, dtt, dst, threads;
    double coef, dth, lr;
    int standardize, quiet;
    /* which were given */
    int has_acc, has_ef, has_k, has_auxk, has_coef, has_dst, has_dth, has_lr, has_std;
} train_opts;

static int parse_ll(const char *opt, const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi)
        return cli_error(CMD, "--%s: '%s' is not an integer in %lld..%lld", opt, s, lo, hi);
    *out = v;
    return 0;
}

static int parse_double(const char *opt, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v))
        return cli_error(CMD, "--%s: '%s' is not a number", opt, s);
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, train_opts *o)
{
    static const struct option longopts[] = {
        {"activations", required_argument, 0, OPT_ACT},
        {"out", required_argument, 0, OPT_OUT},
        {"init", required_argument, 0, OPT_INIT},
        {"resume", required_argument, 0, OPT_RESUME},
        {"trainer.accumulate_grad_batches", required_argument, 0, OPT_ACC},
        {"seed", required_argument, 0, OPT_SEED},
        {"autoencoder.expansion_factor", required_argument, 0, OPT_EF},
        {"autoencoder.k", required_argument, 0, OPT_K},
        {"autoencoder.auxk", required_argument, 0, OPT_AUXK},
        {"autoencoder.auxk_coef", required_argument, 0, OPT_COEF},
        {"autoencoder.dead_tokens_threshold", required_argument, 0, OPT_DTT},
        {"autoencoder.dead_steps_threshold", required_argument, 0, OPT_DST},
        {"autoencoder.dead_threshold", required_argument, 0, OPT_DTH},
        {"autoencoder.lr", required_argument, 0, OPT_LR},
        {"autoencoder.standardize", required_argument, 0, OPT_STD},
        {"device", required_argument, 0, OPT_DEVICE},
        {"threads", required_argument, 0, OPT_THREADS},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    memset(o, 0, sizeof *o);
    o->acc = 64, o->seed = 42, o->ef = 16, o->k = 32, o->auxk = 256, o->dtt = 10000000;
    o->coef = 1.0 / 32, o->dth = 1e-3, o->lr = 1e-4, o->standardize = 1, o->device = "cpu";
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
        const char *name = optind > 1 ? argv[optind - 1] : "";
        int rc = 0;
        switch (c) {
        case OPT_ACT: o->activations = optarg; break;
        case OPT_OUT: o->out = optarg; break;
        case OPT_INIT: o->init = optarg; break;
        case OPT_RESUME: o->resume = optarg; break;
        case OPT_ACC: rc = parse_ll("trainer.accumulate_grad_batches", optarg, 1, INT_MAX, &o->acc), o->has_acc = 1; break;
        case OPT_SEED: rc = parse_ll("seed", optarg, 0, LLONG_MAX, &o->seed); break;
        case OPT_EF: rc = parse_ll("autoencoder.expansion_factor", optarg, 1, 1 << 20, &o->ef), o->has_ef = 1; break;
        case OPT_K: rc = parse_ll("autoencoder.k", optarg, 1, INT_MAX, &o->k), o->has_k = 1; break;
        case OPT_AUXK:
            o->has_auxk = 1;
            if (strcmp(optarg, "none") == 0 || strcmp(optarg, "null") == 0)
                o->auxk = 0;
            else
                rc = parse_ll("autoencoder.auxk", optarg, 0, INT_MAX, &o->auxk);
            break;
        case OPT_COEF: rc = parse_double("autoencoder.auxk_coef", optarg, &o->coef), o->has_coef = 1; break;
        case OPT_DTT: rc = parse_ll("autoencoder.dead_tokens_threshold", optarg, 0, LLONG_MAX, &o->dtt); break;
        case OPT_DST: rc = parse_ll("autoencoder.dead_steps_threshold", optarg, 0, LLONG_MAX, &o->dst), o->has_dst = 1; break;
        case OPT_DTH: rc = parse_double("autoencoder.dead_threshold", optarg, &o->dth), o->has_dth = 1; break;
        case OPT_LR: rc = parse_double("autoencoder.lr", optarg, &o->lr), o->has_lr = 1; break;
        case OPT_STD:
            o->has_std = 1;
            if (strcmp(optarg, "true") == 0 || strcmp(optarg, "1") == 0)
                o->standardize = 1;
            else if (strcmp(optarg, "false") == 0 || strcmp(optarg, "0") == 0)
                o->standardize = 0;
            else
                rc = cli_error(CMD, "--autoencoder.standardize: '%s' is not true or false", optarg);
            break;
        case OPT_DEVICE: o->device = optarg; break;
        case OPT_THREADS: rc = parse_ll("threads", optarg, 1, 4096, &o->threads); break;
        case 'q': o->quiet = 1; break;
        case 'h': usage(stdout); return -2;
        case ':': return cli_error(CMD, "%s needs a value", name);
        default: return cli_error(CMD, "unknown option '%s' (see mlsae train --help)", name);
        }
        if (rc) return 1;
    }
    if (optind < argc) return cli_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (!o->activations) return cli_error(CMD, "--activations FILE is required");
    if (!o->out) return cli_error(CMD, "--out DIR is required");
    if (o->init && o->resume) return cli_error(CMD, "--init and --resume exclude each other");
    return 0;
}

/* The activations tensor: F32 [n_batches, n_layers, batch, pos, d_model]. */
static const mlsae_st_tensor *open_inputs(const char *path, mlsae_safetensors **st)
{
    mlsae_error err;
    if (mlsae_st_open(path, st, &err)) {
        cli_error(CMD, "%s", err.msg);
        return NULL;
    }
    const mlsae_st_tensor *t = mlsae_st_find(*st, "inputs");
    const char *why = NULL;
    char buf[256];
    if (!t)
        why = "has no tensor 'inputs'";
    else if (t->dtype != MLSAE_DT_F32)
        snprintf(buf, sizeof buf, "tensor 'inputs' is %s, expected F32", mlsae_dtype_name(t->dtype)), why = buf;
    else if (t->ndim != 5)
        snprintf(buf, sizeof buf,
                 "tensor 'inputs' has %d dimensions, expected 5 [n_batches, n_layers, batch, pos, d_model]",
                 t->ndim), why = buf;
    else if (t->shape[0] < 1 || t->shape[1] < 1 || t->shape[2] < 1 || t->shape[3] < 1 || t->shape[4] < 2)
        why = "tensor 'inputs' has an empty dimension (or d_model < 2)";
    else if (t->shape[1] * t->shape[2] * t->shape[3] > INT_MAX / 4 || t->shape[4] > INT_MAX / 4)
        why = "tensor 'inputs' micro-batches are too large";
    if (why) {
        cli_error(CMD, "%s: %s", path, why);
        mlsae_st_close(*st);
        *st = NULL;
        return NULL;
    }
    return t;
}

static int write_metrics(FILE *fp, const mlsae_sae_train_metrics *m)
{
    json_t *o = json_object();
    json_object_set_new(o, "micro_batch", json_integer(m->micro_batch));
    json_object_set_new(o, "step", json_integer(m->step));
    json_object_set_new(o, "loss/total", json_real(m->loss_total));
    json_object_set_new(o, "loss/mse", json_real(m->loss_mse));
    json_object_set_new(o, "loss/auxk", json_real(m->loss_aux));
    json_object_set_new(o, "train/dead/abs", json_real(m->dead_fraction));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!s) return -1;
    int rc = fprintf(fp, "%s\n", s) < 0 ? -1 : 0;
    free(s);
    return rc;
}

/* The SAE: resumed, from --init, or new. */
static mlsae_sae *make_sae(const train_opts *o, mlsae_backend *be, const mlsae_st_tensor *in,
                           int64_t *position)
{
    const int d = (int)in->shape[4];
    const int64_t tokens = in->shape[2] * in->shape[3];
    mlsae_error err;
    mlsae_sae *sae = NULL;
    *position = 0;
    const char *from = o->resume ? o->resume : o->init;
    mlsae_sae_config cfg;
    if (from) {
        if (mlsae_ckpt_load(from, be, &sae, &err)) {
            cli_error(CMD, "%s", err.msg);
            return NULL;
        }
        if (mlsae_sae_get_config(sae)->n_inputs != d) {
            cli_error(CMD, "%s: d_model %d of the activations does not match n_inputs %d of %s",
                      o->activations, d, mlsae_sae_get_config(sae)->n_inputs, from);
            mlsae_sae_free(sae);
            return NULL;
        }
        if (o->resume) {
            mlsae_ckpt_resume_out ro;
            if (mlsae_ckpt_load_state(sae, o->resume, &ro, &err)) {
                cli_error(CMD, "%s", err.msg);
                mlsae_sae_free(sae);
                return NULL;
            }
            free(ro.user_state);
            *position = ro.data_position;
            return sae;
        }
        cfg = *mlsae_sae_get_config(sae);
    } else {
        if ((long long)d * o->ef > INT_MAX) {
            cli_error(CMD, "expansion_factor %lld x d_model %d is too large", o->ef, d);
            return NULL;
        }
        mlsae_sae_config_default(&cfg, d, (int)o->ef);
        cfg.k = o->k > INT_MAX ? INT_MAX : (int)o->k;
        cfg.auxk = (int)o->auxk;
        cfg.dead_threshold = (float)o->dth;
        cfg.standardize = o->standardize;
    }
    /* trainer options apply to fresh and --init runs */
    cfg.accumulate_grad_batches = (int)o->acc;
    cfg.auxk_coef = (float)o->coef;
    cfg.lr = (float)o->lr;
    if (!from || o->has_dst)
        cfg.dead_steps_threshold = o->has_dst ? o->dst : mlsae_dead_steps_threshold(o->dtt, tokens, (int)o->acc);
    if (from) {
        if (mlsae_sae_set_config(sae, &cfg, &err)) {
            cli_error(CMD, "%s", err.msg);
            mlsae_sae_free(sae);
            return NULL;
        }
        return sae;
    }
    if (mlsae_sae_create(&cfg, be, (uint64_t)o->seed, &sae, &err)) {
        cli_error(CMD, "%s", err.msg);
        return NULL;
    }
    return sae;
}

int cmd_train_activations(int argc, char **argv)
{
    train_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc == -2) return 0;
    if (rc) return rc < 0 ? 1 : rc;
    if (o.init && (o.has_ef || o.has_k || o.has_auxk || o.has_dth || o.has_std))
        return cli_error(CMD, "--init takes the SAE's shape and thresholds from its config.json; "
                              "drop the --autoencoder.* options other than lr and auxk_coef");

    mlsae_safetensors *st = NULL;
    const mlsae_st_tensor *in = open_inputs(o.activations, &st);
    if (!in) return 1;
    mlsae_backend_params bp = {0};
    bp.n_threads = (int)o.threads;
    mlsae_backend *be = NULL;
    mlsae_error err;
    if (mlsae_backend_open(o.device, &bp, &be, &err)) {
        mlsae_st_close(st);
        return cli_error(CMD, "%s", err.msg);
    }
    int64_t position = 0;
    mlsae_sae *sae = make_sae(&o, be, in, &position);
    char *stage = NULL;
    FILE *metrics = NULL;
    mlsae_buffer *xb = NULL;
    rc = 1;
    if (!sae) goto done;
    const int64_t n_batches = in->shape[0];
    const int n_layers = (int)in->shape[1], rpl = (int)(in->shape[2] * in->shape[3]);
    const int d = (int)in->shape[4];
    const size_t per_batch = (size_t)n_layers * rpl * d;
    if (position > n_batches) {
        cli_error(CMD, "%s: the run to resume has consumed %lld micro-batches, the file has %lld",
                  o.activations, (long long)position, (long long)n_batches);
        goto done;
    }
    xb = mlsae_alloc_f32(be, per_batch);
    if (!xb) {
        cli_error(CMD, "cannot allocate a micro-batch of %zu floats", per_batch);
        goto done;
    }
    if (mlsae_ckpt_stage_begin(o.out, &stage, &err)) {
        cli_error(CMD, "%s", err.msg);
        goto done;
    }
    {
        size_t n = strlen(stage) + 16;
        char *path = malloc(n);
        if (path) {
            snprintf(path, n, "%s/metrics.jsonl", stage);
            metrics = fopen(path, "w");
        }
        free(path);
        if (!metrics) {
            cli_error(CMD, "%s: cannot write metrics.jsonl", stage);
            goto done;
        }
    }
    const float *data = (const float *)in->data;
    mlsae_sae_train_metrics m = {0};
    for (int64_t b = position; b < n_batches; b++) {
        if (be->ops->core.write(be, xb, 0, data + (size_t)b * per_batch, per_batch * 4)) {
            cli_error(CMD, "%s", mlsae_backend_error(be));
            goto done;
        }
        if (mlsae_sae_train_microbatch(sae, mlsae_at(xb, 0), n_layers, rpl, &m, &err)) {
            cli_error(CMD, "%s: %s", o.activations, err.msg);
            goto done;
        }
        if (write_metrics(metrics, &m)) {
            cli_error(CMD, "%s: cannot write metrics.jsonl", stage);
            goto done;
        }
        if (!o.quiet)
            fprintf(stderr, "\rmicro-batch %lld/%lld  step %lld  loss %.5f  mse %.5f  auxk %.5f  dead %.4f",
                    (long long)b + 1, (long long)n_batches, (long long)m.step, m.loss_total,
                    m.loss_mse, m.loss_aux, m.dead_fraction);
    }
    if (!o.quiet && n_batches > position) fputc('\n', stderr);
    int stepped;
    if (mlsae_sae_flush_step(sae, &stepped, &err)) {
        cli_error(CMD, "%s", err.msg);
        goto done;
    }
    if (fclose(metrics) != 0) {
        metrics = NULL;
        cli_error(CMD, "%s: cannot write metrics.jsonl", stage);
        goto done;
    }
    metrics = NULL;
    mlsae_ckpt_resume res = {n_batches, NULL, 0};
    if (mlsae_ckpt_write_files(sae, stage, &res, &err) ||
        mlsae_ckpt_stage_commit(stage, o.out, &err)) {
        cli_error(CMD, "%s", err.msg);
        goto done;
    }
    free(stage);
    stage = NULL;
    mlsae_sae_counters cn;
    mlsae_sae_get_counters(sae, &cn);
    printf("trained %lld micro-batches (%lld Adam steps), final loss %.6g; checkpoint in %s\n",
           (long long)(n_batches - position), (long long)cn.step, m.loss_total, o.out);
    rc = 0;
done:
    if (metrics) fclose(metrics);
    if (stage) {
        mlsae_ckpt_stage_abort(stage);
        free(stage);
    }
    if (xb) be->ops->core.free(be, xb);
    mlsae_sae_free(sae);
    if (be) mlsae_backend_close(be);
    mlsae_st_close(st);
    return rc;
}
