#include "config.h"
#include "demo/demo.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/atomic_file.h"
#include "core/paths.h"
#include "model/neox.h"
#include "dataset/dataset.h"

/* Documents of the bundled corpus held out for the test split. */
#define DEMO_TEST_DOCS 16

/* A Pythia-like model, small enough to train on in a minute. */
static int write_model(const char *dir, mlsae_error *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (mlsae_path_exists(path)) return 0; /* reuse a model from an earlier demo run */
    mlsae_neox_config c;
    if (mlsae_neox_config_pythia(&c, 128, 4, 4, 512, 50304, err)) return -1;
    return mlsae_neox_write_random(dir, &c, 1234, MLSAE_DT_F32, err);
}

static int copy_file(const char *from, const char *to, mlsae_error *err)
{
    char *data = NULL;
    size_t n = 0;
    if (mlsae_read_file(from, &data, &n, err)) return -1;
    int rc = mlsae_write_file_atomic(to, data, n, err);
    free(data);
    return rc;
}

/* Split the bundled corpus by document: all but the last DEMO_TEST_DOCS
 * documents for training, those for testing. */
static int split_corpus(const char *train_path, const char *test_path, mlsae_error *err)
{
    char corpus[4096];
    if (mlsae_find_data_file("tinyshakespeare.jsonl.zst", corpus, sizeof corpus, err)) return -1;
    const char *src[1] = {corpus};
    mlsae_dataset *ds;
    if (mlsae_dataset_open(src, 1, &ds, err)) return -1;
    json_t *docs = json_array();
    mlsae_doc doc;
    int got;
    while ((got = mlsae_dataset_next(ds, &doc, err)) == 1)
        json_array_append_new(docs, json_stringn(doc.text, doc.len));
    mlsae_dataset_close(ds);
    if (got < 0) {
        json_decref(docs);
        return -1;
    }
    size_t n = json_array_size(docs);
    if (n <= DEMO_TEST_DOCS) {
        json_decref(docs);
        return mlsae_fail(err, "%s: only %zu documents", corpus, n);
    }
    int rc = 0;
    for (int part = 0; part < 2 && !rc; part++) {
        const char *path = part ? test_path : train_path;
        size_t lo = part ? n - DEMO_TEST_DOCS : 0, hi = part ? n : n - DEMO_TEST_DOCS;
        mlsae_atomic_file af;
        if (mlsae_atomic_open(&af, path, err)) {
            rc = -1;
            break;
        }
        for (size_t i = lo; i < hi && !rc; i++) {
            json_t *obj = json_pack("{s:O}", "text", json_array_get(docs, i));
            char *line = obj ? json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
            json_decref(obj);
            if (!line) rc = mlsae_fail(err, "out of memory");
            if (!rc) rc = mlsae_atomic_write(&af, line, strlen(line), err);
            if (!rc) rc = mlsae_atomic_write(&af, "\n", 1, err);
            free(line);
        }
        if (rc) mlsae_atomic_abort(&af);
        else rc = mlsae_atomic_commit(&af, err);
    }
    json_decref(docs);
    return rc;
}

/* The demo's run configuration: the reference's algorithm at a small scale. */
void mlsae_demo_run_config(mlsae_run_config *cfg, const mlsae_demo_options *opt,
                           const mlsae_demo_summary *sum)
{
    const char *out_dir = opt->out_dir ? opt->out_dir : "mlsae-demo";
    mlsae_run_config_defaults(cfg);
    snprintf(cfg->model_name, sizeof cfg->model_name, "%s", sum->model_dir);
    snprintf(cfg->data.path, sizeof cfg->data.path, "%s", sum->train_data);
    snprintf(cfg->device, sizeof cfg->device, "%s", opt->device ? opt->device : "cpu");
    snprintf(cfg->trainer.default_root_dir, sizeof cfg->trainer.default_root_dir, "%s", out_dir);
    cfg->threads = opt->threads;
    cfg->data.max_length = 256;
    cfg->data.batch_size = 2;
    cfg->data.max_tokens = opt->train_tokens > 0 ? opt->train_tokens : 131072;
    cfg->autoencoder.expansion_factor = 8;
    cfg->autoencoder.k = 16;
    cfg->autoencoder.auxk = 64;
    /* small enough that latents can be flagged dead (and AuxK work) in a
     * short run: 200000 // (512 * 4) = 97 micro-batches */
    cfg->autoencoder.dead_tokens_threshold = 200000;
    cfg->trainer.accumulate_grad_batches = 4;
    cfg->trainer.log_every_n_steps = 4;
    cfg->trainer.val_check_interval = 128;
    cfg->trainer.limit_val_batches = 2;
    cfg->trainer.checkpoint_every_n_steps = 16;
}

int mlsae_demo_prepare(const mlsae_demo_options *opt, FILE *progress, mlsae_demo_summary *sum,
                       mlsae_error *err)
{
    memset(sum, 0, sizeof *sum);
    const char *out = opt->out_dir ? opt->out_dir : "mlsae-demo";
    char data_dir[4200], tok_path[4096], tok_copy[4300];
    snprintf(sum->model_dir, sizeof sum->model_dir, "%.4000s/model", out);
    snprintf(data_dir, sizeof data_dir, "%s/data", out);
    snprintf(sum->train_data, sizeof sum->train_data, "%.4000s/data/train.jsonl", out);
    snprintf(sum->test_data, sizeof sum->test_data, "%.4000s/data/test.jsonl", out);
    snprintf(sum->config, sizeof sum->config, "%.4000s/train.yaml", out);

    if (mlsae_mkdir_p(sum->model_dir, err) || mlsae_mkdir_p(data_dir, err)) return -1;
    if (progress) fprintf(progress, "demo: writing a random-weight GPT-NeoX model to %s\n",
                          sum->model_dir);
    if (write_model(sum->model_dir, err)) return -1;
    if (mlsae_find_data_file("gpt-neox-20b-tokenizer.json", tok_path, sizeof tok_path, err))
        return -1;
    snprintf(tok_copy, sizeof tok_copy, "%s/tokenizer.json", sum->model_dir);
    if (!mlsae_path_exists(tok_copy) && copy_file(tok_path, tok_copy, err)) return -1;
    if (progress) fprintf(progress, "demo: splitting the bundled Shakespeare corpus into %s\n",
                          data_dir);
    return split_corpus(sum->train_data, sum->test_data, err);
}

int mlsae_demo(const mlsae_demo_options *opt_in, FILE *progress, mlsae_demo_summary *sum,
               mlsae_error *err)
{
    mlsae_demo_options opt = *opt_in;
    if (!opt.out_dir) opt.out_dir = "mlsae-demo";
    if (!opt.device) opt.device = "cpu";
    if (opt.train_tokens <= 0) opt.train_tokens = 131072;
    if (opt.test_tokens <= 0) opt.test_tokens = 8192;
    mlsae_run_config *cfg = malloc(sizeof *cfg);
    if (!cfg) return mlsae_fail(err, "out of memory");
    /* the options checked before anything is written (an unknown --device
     * would otherwise fail after the model and the data) */
    memset(sum, 0, sizeof *sum);
    mlsae_demo_run_config(cfg, &opt, sum);
    if (mlsae_run_config_validate(cfg, err) || mlsae_demo_prepare(&opt, progress, sum, err)) {
        free(cfg);
        return -1;
    }
    mlsae_demo_run_config(cfg, &opt, sum);
    int rc = 0;
    {
        char *yaml = NULL;
        size_t len = 0;
        rc = mlsae_run_config_to_yaml(cfg, &yaml, &len, err);
        if (!rc) rc = mlsae_write_file_atomic(sum->config, yaml, len, err);
        free(yaml);
    }
    if (!rc) {
        mlsae_train_io io = {.out = progress, .tty = -1};
        rc = mlsae_train(cfg, &io, &sum->train, err);
    }
    if (!rc && sum->train.interrupted)
        rc = mlsae_fail(err, "interrupted; resume with: mlsae train --resume %s",
                        sum->train.checkpoint_dir);
    if (!rc) {
        /* <out>/test_<SAE>.csv: where `mlsae test --csv <out>` writes it and
         * `mlsae report` / `mlsae figures` look for it */
        const char *slash = strrchr(sum->train.sae_dir, '/');
        snprintf(sum->test_csv, sizeof sum->test_csv, "%.3000s/test_%.1000s.csv", opt.out_dir,
                 slash ? slash + 1 : sum->train.sae_dir);
        snprintf(cfg->data.path, sizeof cfg->data.path, "%s", sum->test_data);
        cfg->data.max_tokens = opt.test_tokens;
        if (progress) fprintf(progress, "demo: test metrics on %s\n", sum->test_data);
        rc = mlsae_test(cfg, sum->train.sae_dir, sum->test_csv, progress, &sum->test, err);
    }
    free(cfg);
    return rc;
}
