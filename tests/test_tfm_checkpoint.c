/* A reference -tfm checkpoint (the whole Lightning module) in `mlsae test`:
 *  - its config.json's run options become the base configuration
 *    (model_name, layers, max_length, batch_size, skip_special_tokens,
 *    dead_tokens_threshold), under the command line's;
 *  - its transformer weights ("transformer.model." + the HF names) are the
 *    ones tested, on model_name's configuration and tokenizer, as the
 *    reference's from_pretrained does.
 * Two random models A and B of one shape: a -tfm checkpoint naming B but
 * holding A's weights gives the same CSV, byte for byte, as the plain SAE
 * tested on A, and a different one from the plain SAE on B. Bad keys of the
 * config.json are refused with the file and key named. */
#include "config.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "config/run_config.h"
#include "core/atomic_file.h"
#include "core/safetensors.h"
#include "eval/evaluate.h"
#include "model/neox.h"
#include "sae/checkpoint.h"
#include "sae/mlsae.h"

static char tmp[4096], model_a[4200], model_b[4200], plain[4200], tfm[4200], data[4200];

static int write_text(const char *path, const char *text)
{
    mlsae_error err;
    if (mlsae_write_file_atomic(path, text, strlen(text), &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

/* tfm/model.safetensors: the SAE's tensors under "autoencoder.", model A's
 * under "transformer.model.". */
static int write_tfm(void)
{
    char path[4300];
    mlsae_safetensors *sae = NULL, *model = NULL;
    mlsae_error err;
    snprintf(path, sizeof path, "%s/model.safetensors", plain);
    if (mlsae_st_open(path, &sae, &err) || mlsae_st_open(model_a, &model, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    mlsae_st_writer *w = mlsae_st_writer_new();
    char names[64][256];
    int n = 0, rc = 0;
    const char *keep[] = {"encoder.weight", "decoder.weight", "pre_encoder_bias"};
    for (size_t i = 0; i < 3 && !rc; i++) {
        const mlsae_st_tensor *t = mlsae_st_find(sae, keep[i]);
        snprintf(names[n], sizeof names[n], "autoencoder.%s", keep[i]);
        rc = !t || mlsae_st_writer_add(w, names[n++], t->dtype, t->ndim, t->shape, t->data, &err);
    }
    for (size_t i = 0; i < mlsae_st_count(model) && !rc && n < 64; i++) {
        const mlsae_st_tensor *t = mlsae_st_at(model, i);
        snprintf(names[n], sizeof names[n], "transformer.model.%s", t->name);
        rc = mlsae_st_writer_add(w, names[n++], t->dtype, t->ndim, t->shape, t->data, &err);
    }
    snprintf(path, sizeof path, "%s/model.safetensors", tfm);
    if (!rc) rc = mlsae_st_writer_save(w, path, &err);
    if (rc) fprintf(stderr, "writing %s: %s\n", path, err.msg);
    mlsae_st_writer_free(w);
    mlsae_st_close(sae);
    mlsae_st_close(model);
    return rc ? -1 : 0;
}

/* The reference's -tfm config.json; `key` (when not NULL) gets `value`
 * (JSON text) instead of its own. */
static int tfm_config(const char *model_name, const char *key, const char *value)
{
    struct {
        const char *k, *v;
    } kv[] = {{"layers", "null"}, {"max_length", "16"}, {"batch_size", "2"},
              {"skip_special_tokens", "true"}, {"expansion_factor", "2"}, {"k", "4"},
              {"auxk", "8"}, {"auxk_coef", "0.03125"}, {"dead_tokens_threshold", "10000000"},
              {"dead_threshold", "0.001"}, {"lr", "0.0001"}, {"standardize", "true"}};
    char path[4300], text[8192];
    size_t used = (size_t)snprintf(text, sizeof text, "{\"model_name\": \"%s\"", model_name);
    for (size_t i = 0; i < sizeof kv / sizeof kv[0] && used < sizeof text; i++)
        used += (size_t)snprintf(text + used, sizeof text - used, ", \"%s\": %s", kv[i].k,
                                 key && strcmp(key, kv[i].k) == 0 ? value : kv[i].v);
    if (used + 2 >= sizeof text) return -1;
    strcat(text, "}");
    snprintf(path, sizeof path, "%s/config.json", tfm);
    return write_text(path, text);
}

/* mlsae test of ckpt with the base configuration of its config.json (as
 * `mlsae test --checkpoint` builds it) and the data options; csv's text. */
static char *run_test(const char *ckpt, const char *model_name, const char *csv)
{
    mlsae_run_config *base = malloc(sizeof *base), *cfg = malloc(sizeof *cfg);
    mlsae_error err;
    int is_tfm = 0;
    mlsae_run_config_defaults(base);
    char *argv[] = {"test", "--data", data, "--max_tokens", "64", "--threads", "2", "--device",
                    "cpu", "--max_length", "16", "--batch_size", "2",
                    "--dead_tokens_threshold", "10000000", "--model_name", (char *)model_name};
    int argc = model_name ? 17 : 15;
    char *text = NULL;
    size_t len;
    mlsae_test_summary sum;
    if (mlsae_run_config_apply_checkpoint(base, ckpt, &is_tfm, &err) ||
        mlsae_run_config_from_args_base(cfg, base, argc, argv, NULL, NULL, &err) ||
        mlsae_test(cfg, ckpt, csv, NULL, &sum, &err) || mlsae_read_file(csv, &text, &len, &err))
        fprintf(stderr, "test %s: %s\n", ckpt, err.msg);
    free(base);
    free(cfg);
    return text;
}

static void expect_bad(const char *key, const char *value)
{
    if (tfm_config(model_b, key, value)) return;
    mlsae_run_config *cfg = malloc(sizeof *cfg);
    mlsae_error err;
    int is_tfm;
    mlsae_run_config_defaults(cfg);
    int rc = mlsae_run_config_apply_checkpoint(cfg, tfm, &is_tfm, &err);
    CHECKF(rc == -1 && strstr(err.msg, "config.json") && strstr(err.msg, key) &&
               !strchr(err.msg, '\n'),
           "bad %s accepted or message lacks file and key: %s", key, rc ? err.msg : "accepted");
    free(cfg);
}

int main(void)
{
    snprintf(tmp, sizeof tmp, "%s", tu_tmpdir());
    snprintf(model_a, sizeof model_a, "%s/model_a", tmp);
    snprintf(model_b, sizeof model_b, "%s/model_b", tmp);
    snprintf(plain, sizeof plain, "%s/plain", tmp);
    snprintf(tfm, sizeof tfm, "%s/x-tfm", tmp);
    snprintf(data, sizeof data, "%s/data.jsonl", tmp);
    mlsae_neox_config mc;
    tu_small_neox_config(&mc, 16, 32, 64);
    mlsae_error err;
    mlsae_backend *cpu = NULL;
    mlsae_sae *sae = NULL;
    mlsae_sae_config sc;
    mlsae_sae_config_default(&sc, 16, 2);
    sc.k = 4;
    sc.auxk = 8;
    if (mlsae_neox_config_validate(&mc, "test", &err) ||
        mlsae_neox_write_random(model_a, &mc, 7, MLSAE_DT_F32, &err) ||
        mlsae_neox_write_random(model_b, &mc, 8, MLSAE_DT_F32, &err) ||
        mlsae_backend_cpu_new(NULL, &cpu, &err) || mlsae_sae_create(&sc, cpu, 5, &sae, &err) ||
        mlsae_ckpt_save(sae, plain, NULL, &err) || mlsae_mkdir_p(tfm, &err)) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    mlsae_sae_free(sae);
    mlsae_backend_close(cpu);
    if (write_text(data, "{\"text\": \"It was the best of times, it was the worst of times, it "
                         "was the age of wisdom, it was the age of foolishness, it was the "
                         "epoch of belief, it was the epoch of incredulity.\"}\n"
                         "{\"text\": \"Call me Ishmael. Some years ago, never mind how long "
                         "precisely, having little or no money in my purse.\"}\n") ||
        write_tfm() || tfm_config(model_b, NULL, NULL))
        return 1;

    /* the run options of the -tfm config become the base */
    mlsae_run_config *cfg = malloc(sizeof *cfg);
    int is_tfm = 0;
    mlsae_run_config_defaults(cfg);
    CHECK(mlsae_run_config_apply_checkpoint(cfg, tfm, &is_tfm, &err) == 0 && is_tfm &&
          strcmp(cfg->model_name, model_b) == 0 && cfg->data.max_length == 16 &&
          cfg->data.batch_size == 2 && cfg->autoencoder.dead_tokens_threshold == 10000000);
    mlsae_run_config_defaults(cfg);
    CHECK(mlsae_run_config_apply_checkpoint(cfg, plain, &is_tfm, &err) == 0 && !is_tfm &&
          cfg->data.max_length == 2048);
    free(cfg);

    char csv[4300];
    snprintf(csv, sizeof csv, "%s/tfm.csv", tmp);
    char *via_tfm = run_test(tfm, NULL, csv);
    snprintf(csv, sizeof csv, "%s/a.csv", tmp);
    char *on_a = run_test(plain, model_a, csv);
    snprintf(csv, sizeof csv, "%s/b.csv", tmp);
    char *on_b = run_test(plain, model_b, csv);
    CHECK(via_tfm && on_a && on_b);
    if (via_tfm && on_a && on_b) {
        CHECKF(strcmp(via_tfm, on_a) == 0, "the -tfm checkpoint was not tested with its own "
               "transformer:\n%s\nvs model A:\n%s", via_tfm, on_a);
        CHECKF(strcmp(via_tfm, on_b) != 0, "models A and B gave the same metrics");
    }
    free(via_tfm);
    free(on_a);
    free(on_b);

    expect_bad("max_length", "\"64\"");
    expect_bad("layers", "[0, -1]");
    expect_bad("skip_special_tokens", "1");
    expect_bad("batch_size", "0");
    expect_bad("dead_tokens_threshold", "1e7");
    return tu_finish("test_tfm_checkpoint");
}
