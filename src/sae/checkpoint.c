/* MLSAE checkpoint directories: see checkpoint.h and SPEC §8. */
#define _GNU_SOURCE /* renameat2 */
#include "config.h"
#include "sae/checkpoint.h"
#include "core/paths.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/atomic_file.h"
#include "core/safetensors.h"
#include "core/checked_size.h"
#include "sae/validate.h"

#define CONFIG_FILE "config.json"
#define MODEL_FILE "model.safetensors"
#define STATE_FILE "training_state.safetensors"
#define TFM_PREFIX "autoencoder."
#define TFM_TRANSFORMER_PREFIX "transformer.model."

/* ---- writing -------------------------------------------------------------- */

/* The shortest decimal that reads back as the same float (0.001, not
 * 0.0010000000474974513), as Python would print it. */
static json_t *json_float(float v)
{
    char buf[32];
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)v);
        if (strtof(buf, NULL) == v) break;
    }
    return json_real(strtod(buf, NULL));
}

static int write_config(const mlsae_sae_config *c, const char *stage, mlsae_error *err)
{
    json_t *o = json_object();
    if (!o) return mlsae_fail(err, "checkpoint: out of memory");
    json_object_set_new(o, "n_inputs", json_integer(c->n_inputs));
    json_object_set_new(o, "n_latents", json_integer(c->n_latents));
    json_object_set_new(o, "k", json_integer(c->k));
    json_object_set_new(o, "dead_steps_threshold", json_integer(c->dead_steps_threshold));
    json_object_set_new(o, "dead_threshold", json_float(c->dead_threshold));
    /* the reference spells "no auxiliary loss" as null */
    json_object_set_new(o, "auxk", c->auxk > 0 ? json_integer(c->auxk) : json_null());
    json_object_set_new(o, "standardize", json_boolean(c->standardize));
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    char *path = mlsae_path_join_new(stage, CONFIG_FILE);
    int rc = -1;
    if (text && path)
        rc = mlsae_write_file_atomic(path, text, strlen(text), err);
    else
        mlsae_fail(err, "checkpoint: out of memory");
    free(text);
    free(path);
    return rc;
}

typedef struct host_params {
    float *enc, *dec, *bias;
    int64_t *last_nonzero;
} host_params;

static void free_host(host_params *h)
{
    free(h->enc), free(h->dec), free(h->bias), free(h->last_nonzero);
}

static int write_model(mlsae_sae *sae, const char *stage, mlsae_error *err)
{
    const mlsae_sae_config *c = mlsae_sae_get_config(sae);
    const size_t nd = (size_t)c->n_latents * c->n_inputs;
    host_params h = {malloc(nd * 4), malloc(nd * 4), malloc((size_t)c->n_inputs * 4),
                     malloc((size_t)c->n_latents * 8)};
    char *path = mlsae_path_join_new(stage, MODEL_FILE);
    mlsae_st_writer *w = mlsae_st_writer_new();
    int rc = -1;
    if (!h.enc || !h.dec || !h.bias || !h.last_nonzero || !path || !w) {
        mlsae_fail(err, "checkpoint: out of memory");
        goto done;
    }
    if (mlsae_sae_get_params(sae, h.enc, h.dec, h.bias, h.last_nonzero, err)) goto done;
    /* never publish weights that loading would refuse */
    if (mlsae_validate_f32(path, "encoder.weight", h.enc, nd, NULL, err) ||
        mlsae_validate_f32(path, "decoder.weight", h.dec, nd, NULL, err) ||
        mlsae_validate_f32(path, "pre_encoder_bias", h.bias, (size_t)c->n_inputs, NULL, err)) {
        mlsae_error_prefix(err, "not writing the checkpoint");
        goto done;
    }
    int64_t s_enc[2] = {c->n_latents, c->n_inputs}, s_dec[2] = {c->n_inputs, c->n_latents};
    int64_t s_b[1] = {c->n_inputs}, s_ln[1] = {c->n_latents};
    if (mlsae_st_writer_add(w, "encoder.weight", MLSAE_DT_F32, 2, s_enc, h.enc, err) ||
        mlsae_st_writer_add(w, "decoder.weight", MLSAE_DT_F32, 2, s_dec, h.dec, err) ||
        mlsae_st_writer_add(w, "pre_encoder_bias", MLSAE_DT_F32, 1, s_b, h.bias, err) ||
        mlsae_st_writer_add(w, "last_nonzero", MLSAE_DT_I64, 1, s_ln, h.last_nonzero, err) ||
        mlsae_st_writer_metadata(w, "format", "pt", err))
        goto done;
    rc = mlsae_st_writer_save(w, path, err);
done:
    mlsae_st_writer_free(w);
    free(path);
    free_host(&h);
    return rc;
}

/* The training state's float tensors; index % 3 == 2 are [n_inputs], 3, 4
 * and 7 decoder-shaped, the rest encoder-shaped; 1, 4, 5 are second moments. */
/* Why tensor names_state[i] must be >= 0 (mlsae_validate_f32), or NULL. */
static const char *nonneg_why(int i)
{
    return i == 1 || i == 4 || i == 5 ? "an Adam second moment (exp_avg_sq) is >= 0" : NULL;
}

static const char *const names_state[9] = {
    "adam.encoder.weight.exp_avg",   "adam.encoder.weight.exp_avg_sq",
    "adam.pre_encoder_bias.exp_avg", "adam.decoder.weight.exp_avg",
    "adam.decoder.weight.exp_avg_sq", "adam.pre_encoder_bias.exp_avg_sq",
    "grad.encoder.weight",           "grad.decoder.weight",
    "grad.pre_encoder_bias"};

static int meta_real(mlsae_st_writer *w, const char *key, double v, mlsae_error *err)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.9g", v);
    return mlsae_st_writer_metadata(w, key, buf, err);
}

static int write_state(mlsae_sae *sae, const char *stage, const mlsae_ckpt_resume *resume,
                       mlsae_error *err)
{
    const mlsae_sae_config *c = mlsae_sae_get_config(sae);
    const size_t nd = (size_t)c->n_latents * c->n_inputs, d = (size_t)c->n_inputs;
    float *a[9];
    for (int i = 0; i < 9; i++) a[i] = malloc((i % 3 == 2 ? d : nd) * 4);
    /* a: m_enc v_enc m_bias? -> layout: [0]m_enc [1]v_enc [2]m_bias [3]m_dec [4]v_dec [5]v_bias
     *    [6]g_enc [7]g_dec [8]g_bias (sizes: index % 3 == 2 -> d) */
    char *path = mlsae_path_join_new(stage, STATE_FILE);
    mlsae_st_writer *w = mlsae_st_writer_new();
    int rc = -1;
    for (int i = 0; i < 9; i++)
        if (!a[i]) goto oom;
    if (!path || !w) goto oom;
    if (mlsae_sae_get_adam(sae, a[0], a[1], a[3], a[4], a[2], a[5], err) ||
        mlsae_sae_get_grads(sae, a[6], a[7], a[8], err))
        goto done;
    for (int i = 0; i < 9; i++)
        if (mlsae_validate_f32(path, names_state[i], a[i], i % 3 == 2 ? d : nd,
                               nonneg_why(i), err)) {
            mlsae_error_prefix(err, "not writing the training state");
            goto done;
        }
    mlsae_sae_counters cn;
    mlsae_sae_get_counters(sae, &cn);
    int64_t counters[5] = {cn.step, cn.micro_batch, cn.pending, cn.bias_pending,
                           resume->data_position};
    int64_t s_enc[2] = {c->n_latents, c->n_inputs}, s_dec[2] = {c->n_inputs, c->n_latents};
    int64_t s_b[1] = {c->n_inputs}, s_c[1] = {5}, s_u[1] = {(int64_t)resume->user_state_len};
    for (int i = 0; i < 9; i++) {
        const int64_t *shape = i % 3 == 2 ? s_b : (i == 3 || i == 4 || i == 7) ? s_dec : s_enc;
        if (mlsae_st_writer_add(w, names_state[i], MLSAE_DT_F32, i % 3 == 2 ? 1 : 2, shape, a[i], err))
            goto done;
    }
    if (mlsae_st_writer_add(w, "counters", MLSAE_DT_I64, 1, s_c, counters, err)) goto done;
    if (resume->user_state_len &&
        mlsae_st_writer_add(w, "user_state", MLSAE_DT_U8, 1, s_u, resume->user_state, err))
        goto done;
    char acc[32];
    snprintf(acc, sizeof acc, "%d", c->accumulate_grad_batches);
    if (mlsae_st_writer_metadata(w, "format", "mlsae-training-state-1", err) ||
        mlsae_st_writer_metadata(w, "counters", "step,micro_batch,pending,bias_pending,data_position", err) ||
        mlsae_st_writer_metadata(w, "accumulate_grad_batches", acc, err) ||
        meta_real(w, "auxk_coef", c->auxk_coef, err) || meta_real(w, "lr", c->lr, err) ||
        meta_real(w, "beta1", c->beta1, err) || meta_real(w, "beta2", c->beta2, err) ||
        meta_real(w, "eps", c->adam_eps, err))
        goto done;
    rc = mlsae_st_writer_save(w, path, err);
    goto done;
oom:
    mlsae_fail(err, "checkpoint: out of memory");
done:
    mlsae_st_writer_free(w);
    free(path);
    for (int i = 0; i < 9; i++) free(a[i]);
    return rc;
}

int mlsae_ckpt_write_files(mlsae_sae *sae, const char *stage, const mlsae_ckpt_resume *resume,
                           mlsae_error *err)
{
    if (write_config(mlsae_sae_get_config(sae), stage, err) || write_model(sae, stage, err))
        return -1;
    if (resume && write_state(sae, stage, resume, err)) return -1;
    return 0;
}

/* dir without trailing slashes (malloc'd). */
static char *clean_dir(const char *dir)
{
    char *p = strdup(dir);
    if (!p) return NULL;
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/') p[--n] = 0;
    return p;
}

static void remove_flat_dir(const char *path);

/* "<dir>.tmp.<pid>" and "<dir>.old.<pid>" beside dir whose process is gone
 * (a run killed while saving): removed. A live pid's are left alone. */
static void remove_stale_stages(const char *dir)
{
    char *copy = strdup(dir);
    if (!copy) return;
    char *slash = strrchr(copy, '/');
    const char *parent = ".", *base = copy;
    if (slash) {
        *slash = '\0';
        parent = slash == copy ? "/" : copy;
        base = slash + 1;
    }
    size_t bl = strlen(base);
    DIR *dp = opendir(parent);
    if (!dp) {
        free(copy);
        return;
    }
    struct dirent *e;
    while ((e = readdir(dp)) != NULL) {
        const char *name = e->d_name;
        if (strncmp(name, base, bl) != 0) continue;
        const char *rest = name + bl;
        if (strncmp(rest, ".tmp.", 5) != 0 && strncmp(rest, ".old.", 5) != 0) continue;
        char *end;
        errno = 0;
        long pid = strtol(rest + 5, &end, 10);
        if (*end || end == rest + 5 || errno || pid <= 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        size_t n = strlen(parent) + strlen(name) + 2;
        char *p = malloc(n);
        if (!p) break;
        snprintf(p, n, "%s/%s", parent, name);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) remove_flat_dir(p);
        free(p);
    }
    closedir(dp);
    free(copy);
}

int mlsae_ckpt_stage_begin(const char *dir, char **stage, mlsae_error *err)
{
    *stage = NULL;
    char *d = clean_dir(dir);
    if (!d || !*d) {
        free(d);
        return mlsae_fail(err, "checkpoint: empty directory name");
    }
    struct stat sb;
    if (stat(d, &sb) == 0 && !S_ISDIR(sb.st_mode)) {
        mlsae_fail(err, "%s: exists and is not a directory", d);
        free(d);
        return -1;
    }
    size_t n = strlen(d) + 32;
    char *s = malloc(n);
    if (!s) {
        free(d);
        return mlsae_fail(err, "checkpoint: out of memory");
    }
    snprintf(s, n, "%s.tmp.%ld", d, (long)getpid());
    remove_stale_stages(d);
    free(d);
    mlsae_ckpt_stage_abort(s); /* a leftover from a crashed run with the same pid */
    /* the parent must exist; the staging directory itself must be new */
    char *parent = strdup(s);
    char *slash = parent ? strrchr(parent, '/') : NULL;
    if (slash && slash != parent) {
        *slash = 0;
        if (mlsae_mkdir_p(parent, err)) {
            free(parent);
            free(s);
            return -1;
        }
    }
    free(parent);
    if (mkdir(s, 0777) != 0) {
        mlsae_fail_errno(err, "%s: cannot create", s);
        free(s);
        return -1;
    }
    *stage = s;
    return 0;
}

/* Remove a directory of plain files (a staging or replaced checkpoint). */
static void remove_flat_dir(const char *path)
{
    DIR *dp = opendir(path);
    if (!dp) return;
    struct dirent *e;
    while ((e = readdir(dp)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        unlinkat(dirfd(dp), e->d_name, 0);
    }
    closedir(dp);
    rmdir(path);
}

void mlsae_ckpt_stage_abort(const char *stage)
{
    if (stage) remove_flat_dir(stage);
}

static void sync_parent(const char *path)
{
    char *p = strdup(path);
    if (!p) return;
    char *slash = strrchr(p, '/');
    const char *parent = ".";
    if (slash) {
        *slash = 0;
        parent = slash == p ? "/" : p;
    }
    int fd = open(parent, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(p);
}

int mlsae_ckpt_stage_commit(const char *stage, const char *dir, mlsae_error *err)
{
    char *d = clean_dir(dir);
    if (!d) return mlsae_fail(err, "checkpoint: out of memory");
    int rc = 0;
    struct stat sb;
    if (stat(d, &sb) != 0) {
        if (rename(stage, d) != 0) rc = mlsae_fail_errno(err, "%s: cannot rename to %s", stage, d);
    } else {
        /* Swap in one step when the system can; the stage then holds the old one. */
        int swapped = 0;
#if defined(RENAME_EXCHANGE)
        swapped = renameat2(AT_FDCWD, stage, AT_FDCWD, d, RENAME_EXCHANGE) == 0;
#endif
        if (swapped) {
            remove_flat_dir(stage);
        } else {
            size_t n = strlen(d) + 32;
            char *old = malloc(n);
            if (!old) {
                free(d);
                return mlsae_fail(err, "checkpoint: out of memory");
            }
            snprintf(old, n, "%s.old.%ld", d, (long)getpid());
            if (rename(d, old) != 0) {
                rc = mlsae_fail_errno(err, "%s: cannot move aside", d);
            } else if (rename(stage, d) != 0) {
                rc = mlsae_fail_errno(err, "%s: cannot rename to %s", stage, d);
                rename(old, d);
            } else {
                remove_flat_dir(old);
            }
            free(old);
        }
    }
    if (rc == 0) sync_parent(d);
    free(d);
    return rc;
}

int mlsae_ckpt_save(mlsae_sae *sae, const char *dir, const mlsae_ckpt_resume *resume,
                    mlsae_error *err)
{
    char *stage;
    if (mlsae_ckpt_stage_begin(dir, &stage, err)) return -1;
    if (mlsae_ckpt_write_files(sae, stage, resume, err) ||
        mlsae_ckpt_stage_commit(stage, dir, err)) {
        mlsae_ckpt_stage_abort(stage);
        free(stage);
        return -1;
    }
    free(stage);
    return 0;
}

/* ---- reading -------------------------------------------------------------- */

typedef struct cfg_reader {
    json_t *root;
    const char *path;
    mlsae_error *err;
} cfg_reader;

/* Integer field; null allowed when null_ok (-> *is_null). */
static int get_int(cfg_reader *r, const char *key, int required, int null_ok, int64_t *out,
                   int *is_null)
{
    json_t *v = json_object_get(r->root, key);
    if (is_null) *is_null = 0;
    if (!v) {
        if (required) return mlsae_fail(r->err, "%s: field '%s' missing", r->path, key);
        return 1;
    }
    if (json_is_null(v) && null_ok) {
        if (is_null) *is_null = 1;
        return 0;
    }
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
        fabs(json_real_value(v)) < 9e18) {
        *out = (int64_t)json_real_value(v);
        return 0;
    }
    return mlsae_fail(r->err, "%s: field '%s' is not an integer", r->path, key);
}

static int get_real(cfg_reader *r, const char *key, int required, double *out)
{
    json_t *v = json_object_get(r->root, key);
    if (!v) {
        if (required) return mlsae_fail(r->err, "%s: field '%s' missing", r->path, key);
        return 1;
    }
    if (!json_is_number(v)) return mlsae_fail(r->err, "%s: field '%s' is not a number", r->path, key);
    *out = json_number_value(v);
    return 0;
}

static int get_bool(cfg_reader *r, const char *key, int *out)
{
    json_t *v = json_object_get(r->root, key);
    if (!v) return 1;
    if (!json_is_boolean(v)) return mlsae_fail(r->err, "%s: field '%s' is not a boolean", r->path, key);
    *out = json_is_true(v);
    return 0;
}

static int int_range(cfg_reader *r, const char *key, int64_t v, int64_t lo, int64_t hi, int *out)
{
    if (v < lo || v > hi)
        return mlsae_fail(r->err, "%s: field '%s' = %lld out of range %lld..%lld", r->path, key,
                          (long long)v, (long long)lo, (long long)hi);
    *out = (int)v;
    return 0;
}

/* The tensor of the encoder in model.safetensors: plain or -tfm name. */
static const mlsae_st_tensor *find_encoder(mlsae_safetensors *st, int *is_tfm)
{
    const mlsae_st_tensor *t = mlsae_st_find(st, "encoder.weight");
    *is_tfm = 0;
    if (!t) {
        t = mlsae_st_find(st, TFM_PREFIX "encoder.weight");
        *is_tfm = t != NULL;
    }
    return t;
}

static int read_config_with(const char *dir, mlsae_safetensors *st, mlsae_sae_config *cfg,
                            int *is_tfm_out, mlsae_error *err)
{
    char *path = mlsae_path_join_new(dir, CONFIG_FILE);
    if (!path) return mlsae_fail(err, "checkpoint: out of memory");
    char *text = NULL;
    size_t len = 0;
    if (mlsae_read_file(path, &text, &len, err)) {
        free(path);
        return -1;
    }
    json_error_t je;
    json_t *root = json_loadb(text, len, 0, &je);
    free(text);
    if (!root || !json_is_object(root)) {
        if (root)
            mlsae_fail(err, "%s: not a JSON object", path);
        else
            mlsae_fail(err, "%s:%d:%d: %s", path, je.line, je.column, je.text);
        json_decref(root);
        free(path);
        return -1;
    }
    cfg_reader r = {root, path, err};
    int is_tfm;
    const mlsae_st_tensor *enc = find_encoder(st, &is_tfm);
    int rc = -1;
    if (!enc) {
        mlsae_fail(err, "%s: no tensor 'encoder.weight' or '" TFM_PREFIX "encoder.weight'",
                   mlsae_st_path(st));
        goto done;
    }
    if (enc->ndim != 2 || enc->shape[0] < 1 || enc->shape[1] < 2 || enc->shape[0] > INT_MAX ||
        enc->shape[1] > INT_MAX) {
        mlsae_fail(err, "%s: tensor '%s' is not a [n_latents, n_inputs] matrix", mlsae_st_path(st),
                   enc->name);
        goto done;
    }
    int n_latents_t = (int)enc->shape[0], n_inputs_t = (int)enc->shape[1];
    mlsae_sae_config_default(cfg, n_inputs_t, 1);
    cfg->n_latents = n_latents_t;
    int64_t v;
    int is_null, g;
    if (get_int(&r, "k", 1, 0, &v, NULL) < 0 || int_range(&r, "k", v, 1, n_latents_t, &cfg->k))
        goto done;
    g = get_int(&r, "auxk", 0, 1, &v, &is_null);
    if (g < 0) goto done;
    if (g == 0) {
        if (is_null)
            cfg->auxk = 0;
        else if (int_range(&r, "auxk", v, 0, n_latents_t, &cfg->auxk))
            goto done;
    }
    double x;
    g = get_real(&r, "dead_threshold", 0, &x);
    if (g < 0) goto done;
    if (g == 0) cfg->dead_threshold = (float)x;
    if (get_bool(&r, "standardize", &cfg->standardize) < 0) goto done;
    if (!is_tfm) {
        if (get_int(&r, "n_inputs", 1, 0, &v, NULL) < 0) goto done;
        if (v != n_inputs_t) {
            mlsae_fail(err, "%s: n_inputs = %lld but encoder.weight has %d columns", path,
                       (long long)v, n_inputs_t);
            goto done;
        }
        if (get_int(&r, "n_latents", 1, 0, &v, NULL) < 0) goto done;
        if (v != n_latents_t) {
            mlsae_fail(err, "%s: n_latents = %lld but encoder.weight has %d rows", path,
                       (long long)v, n_latents_t);
            goto done;
        }
        if (get_int(&r, "dead_steps_threshold", 1, 0, &cfg->dead_steps_threshold, NULL) < 0)
            goto done;
    } else {
        /* Lightning module hyper-parameters */
        int64_t ef;
        if (get_int(&r, "expansion_factor", 1, 0, &ef, NULL) < 0) goto done;
        int64_t ef_n;
        if (mlsae_mul_nonneg_i64(ef, n_inputs_t, &ef_n) || ef_n != n_latents_t) {
            mlsae_fail(err, "%s: expansion_factor %lld x n_inputs %d != n_latents %d", path,
                       (long long)ef, n_inputs_t, n_latents_t);
            goto done;
        }
        int64_t dtt = 10000000, max_length = 2048, batch_size = 1, acc = 64;
        if (get_int(&r, "dead_tokens_threshold", 0, 0, &dtt, NULL) < 0 ||
            get_int(&r, "max_length", 0, 0, &max_length, NULL) < 0 ||
            get_int(&r, "batch_size", 0, 0, &batch_size, NULL) < 0 ||
            get_int(&r, "accumulate_grad_batches", 0, 0, &acc, NULL) < 0)
            goto done;
        if (int_range(&r, "accumulate_grad_batches", acc, 1, INT_MAX,
                      &cfg->accumulate_grad_batches))
            goto done;
        int64_t tokens;
        if (dtt < 0 || batch_size < 1 || max_length < 1 ||
            mlsae_mul_nonneg_i64(batch_size, max_length, &tokens)) {
            mlsae_fail(err, "%s: dead_tokens_threshold %lld, batch_size %lld, max_length %lld: "
                       "must be >= 0, >= 1, >= 1 with a product that fits 64 bits", path,
                       (long long)dtt, (long long)batch_size, (long long)max_length);
            goto done;
        }
        g = get_int(&r, "dead_steps_threshold", 0, 1, &v, &is_null);
        if (g < 0) goto done;
        cfg->dead_steps_threshold = (g == 0 && !is_null)
                                        ? v
                                        : mlsae_dead_steps_threshold(dtt, tokens,
                                                                     (int)acc);
        g = get_real(&r, "lr", 0, &x);
        if (g < 0) goto done;
        if (g == 0) cfg->lr = (float)x;
        json_t *ac = json_object_get(root, "auxk_coef");
        if (ac && json_is_null(ac)) {
            cfg->auxk_coef = 0;
        } else {
            g = get_real(&r, "auxk_coef", 0, &x);
            if (g < 0) goto done;
            if (g == 0) cfg->auxk_coef = (float)x;
        }
    }
    if (mlsae_sae_config_check(cfg, err)) {
        mlsae_error_prefix(err, "%s", path);
        goto done;
    }
    if (is_tfm_out) *is_tfm_out = is_tfm;
    rc = 0;
done:
    json_decref(root);
    free(path);
    return rc;
}

/* model.safetensors, else pytorch_model.bin (what PyTorchModelHubMixin wrote
 * before it used safetensors; a torch.save archive, core/torch_archive.h). */
static int open_model(const char *dir, mlsae_safetensors **st, mlsae_error *err)
{
    char *path = mlsae_path_join_new(dir, MODEL_FILE);
    if (!path) return mlsae_fail(err, "checkpoint: out of memory");
    if (!mlsae_is_file(path)) {
        char *bin = mlsae_path_join_new(dir, "pytorch_model.bin");
        if (bin && mlsae_is_file(bin)) {
            free(path);
            path = bin;
        } else {
            free(bin);
        }
    }
    int rc = mlsae_st_open(path, st, err);
    free(path);
    return rc;
}

int mlsae_ckpt_read_config(const char *dir, mlsae_sae_config *cfg, int *is_tfm, mlsae_error *err)
{
    mlsae_safetensors *st;
    if (open_model(dir, &st, err)) return -1;
    int rc = read_config_with(dir, st, cfg, is_tfm, err);
    mlsae_st_close(st);
    return rc;
}

int mlsae_ckpt_load(const char *dir, mlsae_backend *be, mlsae_sae **out, mlsae_error *err)
{
    *out = NULL;
    mlsae_safetensors *st;
    if (open_model(dir, &st, err)) return -1;
    mlsae_sae_config cfg;
    int is_tfm;
    if (read_config_with(dir, st, &cfg, &is_tfm, err)) {
        mlsae_st_close(st);
        return -1;
    }
    const char *pre = is_tfm ? TFM_PREFIX : "";
    const int n = cfg.n_latents, d = cfg.n_inputs;
    const size_t nd = (size_t)n * d;
    host_params h = {malloc(nd * 4), malloc(nd * 4), malloc((size_t)d * 4), calloc((size_t)n, 8)};
    mlsae_sae *sae = NULL;
    int rc = -1;
    char name[128];
    if (!h.enc || !h.dec || !h.bias || !h.last_nonzero) {
        mlsae_fail(err, "checkpoint: out of memory");
        goto done;
    }
    int64_t s_enc[2] = {n, d}, s_dec[2] = {d, n}, s_b[1] = {d}, s_ln[1] = {n};
    snprintf(name, sizeof name, "%sencoder.weight", pre);
    if (mlsae_st_read_f32(st, name, 2, s_enc, h.enc, err)) goto done;
    snprintf(name, sizeof name, "%sdecoder.weight", pre);
    if (mlsae_st_read_f32(st, name, 2, s_dec, h.dec, err)) goto done;
    snprintf(name, sizeof name, "%spre_encoder_bias", pre);
    if (mlsae_st_read_f32(st, name, 1, s_b, h.bias, err)) goto done;
    snprintf(name, sizeof name, "%slast_nonzero", pre);
    if (mlsae_st_find(st, name) && mlsae_st_read_i64(st, name, 1, s_ln, h.last_nonzero, err))
        goto done;
    snprintf(name, sizeof name, "%sencoder.weight", pre);
    if (mlsae_validate_f32(mlsae_st_path(st), name, h.enc, nd, NULL, err)) goto done;
    snprintf(name, sizeof name, "%sdecoder.weight", pre);
    if (mlsae_validate_f32(mlsae_st_path(st), name, h.dec, nd, NULL, err)) goto done;
    snprintf(name, sizeof name, "%spre_encoder_bias", pre);
    if (mlsae_validate_f32(mlsae_st_path(st), name, h.bias, (size_t)d, NULL, err)) goto done;
    snprintf(name, sizeof name, "%slast_nonzero", pre);
    if (mlsae_validate_i64_nonneg(mlsae_st_path(st), name, h.last_nonzero, (size_t)n, err))
        goto done;
    if (mlsae_sae_create(&cfg, be, 0, &sae, err)) goto done;
    if (mlsae_sae_set_params(sae, h.enc, h.dec, h.bias, h.last_nonzero, err)) goto done;
    *out = sae;
    sae = NULL;
    rc = 0;
done:
    if (rc) mlsae_sae_free(sae);
    free_host(&h);
    mlsae_st_close(st);
    return rc;
}

int mlsae_ckpt_has_state(const char *dir)
{
    char *path = mlsae_path_join_new(dir, STATE_FILE);
    struct stat sb;
    int ok = path && stat(path, &sb) == 0;
    free(path);
    return ok;
}

static int meta_double(mlsae_safetensors *st, const char *key, double *out, mlsae_error *err)
{
    const char *v = mlsae_st_metadata(st, key);
    char *end;
    if (!v) return mlsae_fail(err, "%s: metadata '%s' missing", mlsae_st_path(st), key);
    errno = 0;
    *out = strtod(v, &end);
    if (end == v || *end || errno || !isfinite(*out))
        return mlsae_fail(err, "%s: metadata '%s' = '%s' is not a number", mlsae_st_path(st), key, v);
    return 0;
}

int mlsae_ckpt_load_state(mlsae_sae *sae, const char *dir, mlsae_ckpt_resume_out *ro,
                          mlsae_error *err)
{
    memset(ro, 0, sizeof *ro);
    char *path = mlsae_path_join_new(dir, STATE_FILE);
    if (!path) return mlsae_fail(err, "checkpoint: out of memory");
    mlsae_safetensors *st;
    int rc = mlsae_st_open(path, &st, err);
    free(path);
    if (rc) return -1;
    rc = -1;
    const mlsae_sae_config *c = mlsae_sae_get_config(sae);
    const size_t nd = (size_t)c->n_latents * c->n_inputs, d = (size_t)c->n_inputs;
    float *a[9] = {0};
    const char *fmt = mlsae_st_metadata(st, "format");
    if (!fmt || strcmp(fmt, "mlsae-training-state-1") != 0) {
        mlsae_fail(err, "%s: not an mlsae training state (metadata 'format')", mlsae_st_path(st));
        goto done;
    }
    int64_t s_enc[2] = {c->n_latents, c->n_inputs}, s_dec[2] = {c->n_inputs, c->n_latents};
    int64_t s_b[1] = {c->n_inputs};
    for (int i = 0; i < 9; i++) {
        a[i] = malloc((i % 3 == 2 ? d : nd) * 4);
        if (!a[i]) {
            mlsae_fail(err, "checkpoint: out of memory");
            goto done;
        }
        const int64_t *shape = i % 3 == 2 ? s_b : (i == 3 || i == 4 || i == 7) ? s_dec : s_enc;
        if (mlsae_st_read_f32(st, names_state[i], i % 3 == 2 ? 1 : 2, shape, a[i], err) ||
            mlsae_validate_f32(mlsae_st_path(st), names_state[i], a[i], i % 3 == 2 ? d : nd,
                               nonneg_why(i), err))
            goto done;
    }
    int64_t counters[5], s_c[1] = {5};
    if (mlsae_st_read_i64(st, "counters", 1, s_c, counters, err)) goto done;
    if (mlsae_validate_counters(mlsae_st_path(st), counters, err)) goto done;
    double acc, coef, lr, b1, b2, eps;
    if (meta_double(st, "accumulate_grad_batches", &acc, err) ||
        meta_double(st, "auxk_coef", &coef, err) || meta_double(st, "lr", &lr, err) ||
        meta_double(st, "beta1", &b1, err) || meta_double(st, "beta2", &b2, err) ||
        meta_double(st, "eps", &eps, err))
        goto done;
    mlsae_sae_config nc = *c;
    nc.accumulate_grad_batches = acc >= 1 && acc <= INT_MAX ? (int)acc : 0;
    nc.auxk_coef = (float)coef, nc.lr = (float)lr, nc.beta1 = (float)b1, nc.beta2 = (float)b2;
    nc.adam_eps = (float)eps;
    if (mlsae_sae_config_check(&nc, err)) {
        mlsae_error_prefix(err, "%s", mlsae_st_path(st));
        goto done;
    }
    if (counters[2] >= nc.accumulate_grad_batches) {
        mlsae_fail(err, "%s: pending micro-batches %lld >= accumulate_grad_batches",
                   mlsae_st_path(st), (long long)counters[2]);
        goto done;
    }
    const mlsae_st_tensor *u = mlsae_st_find(st, "user_state");
    if (u) {
        if (u->dtype != MLSAE_DT_U8 || u->ndim != 1) {
            mlsae_fail(err, "%s: tensor 'user_state' must be U8 [n]", mlsae_st_path(st));
            goto done;
        }
        ro->user_state = malloc(u->nbytes ? u->nbytes : 1);
        if (!ro->user_state) {
            mlsae_fail(err, "checkpoint: out of memory");
            goto done;
        }
        memcpy(ro->user_state, u->data, u->nbytes);
        ro->user_state_len = u->nbytes;
    }
    if (mlsae_sae_set_adam(sae, a[0], a[1], a[3], a[4], a[2], a[5], err) ||
        mlsae_sae_set_grads(sae, a[6], a[7], a[8], err))
        goto done;
    if (mlsae_sae_set_config(sae, &nc, err)) goto done;
    mlsae_sae_counters cn = {counters[0], counters[1], counters[2], counters[3] != 0};
    mlsae_sae_set_counters(sae, &cn);
    ro->data_position = counters[4];
    rc = 0;
done:
    if (rc) {
        free(ro->user_state);
        ro->user_state = NULL;
        ro->user_state_len = 0;
    }
    for (int i = 0; i < 9; i++) free(a[i]);
    mlsae_st_close(st);
    return rc;
}

int mlsae_ckpt_transformer_weights(const char *dir, char *path, size_t n, const char **prefix,
                                   mlsae_error *err)
{
    char *file = mlsae_path_join_new(dir, MODEL_FILE);
    if (!file) return mlsae_fail(err, "checkpoint: out of memory");
    mlsae_safetensors *st = NULL;
    int rc = mlsae_st_open(file, &st, err);
    if (rc == 0) {
        rc = mlsae_st_find(st, TFM_TRANSFORMER_PREFIX "gpt_neox.embed_in.weight") != NULL;
        mlsae_st_close(st);
        if (rc) {
            snprintf(path, n, "%s", file);
            *prefix = TFM_TRANSFORMER_PREFIX;
        }
    }
    free(file);
    return rc;
}
