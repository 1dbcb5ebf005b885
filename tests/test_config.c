/* Run configuration: defaults equal the reference's, the option table,
 * YAML loading (nested, reference layout) and its errors with file:line,
 * command-line forms and precedence, the YAML round trip, derived values. */
#include "config.h"
#include "config/run_config.h"
#include "sae/mlsae.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static mlsae_run_config cfg, other;
static mlsae_error err;

static void test_defaults(void)
{
    mlsae_run_config_defaults(&cfg);
    /* The reference's RunConfig / MLSAETransformer / DataConfig / TrainerConfig. */
    CHECK(strcmp(cfg.model_name, "EleutherAI/pythia-70m-deduped") == 0);
    CHECK(cfg.n_layers == 0);
    CHECK(cfg.seed == 42);
    CHECK(cfg.autoencoder.expansion_factor == 16);
    CHECK(cfg.autoencoder.k == 32);
    CHECK(cfg.autoencoder.auxk == 256);
    CHECK(cfg.autoencoder.auxk_coef == 1.0 / 32);
    CHECK(cfg.autoencoder.dead_tokens_threshold == 10000000);
    CHECK(cfg.autoencoder.dead_threshold == 1e-3);
    CHECK(cfg.autoencoder.lr == 1e-4);
    CHECK(cfg.autoencoder.standardize == 1);
    CHECK(cfg.autoencoder.skip_special_tokens == 1);
    CHECK(cfg.autoencoder.tuned_lens == 0);
    CHECK(strcmp(cfg.data.path, "monology/pile-uncopyrighted") == 0);
    CHECK(cfg.data.name[0] == '\0');
    CHECK(cfg.data.max_length == 2048);
    CHECK(cfg.data.batch_size == 1);
    CHECK(cfg.data.max_tokens == 1e9);
    CHECK(cfg.data.num_workers == MLSAE_CONFIG_NONE);
    CHECK(cfg.trainer.checkpoint_path[0] == '\0');
    CHECK(strcmp(cfg.trainer.precision, "32") == 0);
    CHECK(cfg.trainer.accumulate_grad_batches == 64);
    CHECK(cfg.trainer.max_steps == MLSAE_CONFIG_NONE);
    CHECK(cfg.trainer.log_every_n_steps == 8);
    CHECK(cfg.trainer.val_check_interval == 64 * 64);
    CHECK(cfg.trainer.limit_val_batches == 64 * 8);
    CHECK(cfg.trainer.default_root_dir[0] == '\0');
    CHECK(cfg.project[0] == '\0' && cfg.run[0] == '\0');
    CHECK(strcmp(cfg.device, "auto") == 0);
    CHECK(cfg.threads == 0);
    CHECK(cfg.tokenizer[0] == '\0');
    CHECK(mlsae_run_config_validate(&cfg, &err) == 0);

    /* Derived: 1e9 / 2048 = 488281.25 -> 488282 micro-batches; / 64 ->
     * 7630 steps; 10,000,000 // (1 * 2048 * 64) = 76. */
    mlsae_run_derived d;
    mlsae_run_config_derive(&cfg, &d);
    CHECK(d.tokens_per_micro_batch == 2048);
    CHECK(d.max_micro_batches == 488282);
    CHECK(d.max_steps == 7630);
    CHECK(d.dead_steps_threshold == 76);
    CHECK(d.log_every_n_steps == 8);
    CHECK(d.limit_test_batches == 488282);
    CHECK(mlsae_dead_steps_threshold(1000000, 4 * 512, 8) == 61); /* 1e6 / 16384 = 61.03 */
    CHECK(mlsae_dead_steps_threshold(100, 1 * 2048, 64) == 0);
    /* products past int64 are larger than any threshold: floor division 0 */
    CHECK(mlsae_dead_steps_threshold(INT64_MAX, INT64_MAX / 2, 4) == 0);
    CHECK(mlsae_dead_steps_threshold(INT64_MAX, (int64_t)1 << 62, 2) == 0); /* 2^63 */
    CHECK(mlsae_dead_steps_threshold(INT64_MAX, (int64_t)1 << 61, 2) == 1);
    {
        /* tokens per micro-batch index int arrays */
        mlsae_run_config big = cfg;
        big.data.batch_size = 1048576;
        big.data.max_length = 1048576;
        CHECK(mlsae_run_config_validate(&big, &err) == -1);
        CHECKF(strstr(err.msg, "data.batch_size * data.max_length"), "%s", err.msg);
        big.data.batch_size = 512;
        big.data.max_length = 2097152 / 1024;
        CHECK(mlsae_run_config_validate(&big, &err) == 0);
    }
    cfg.trainer.max_steps = 10;
    cfg.trainer.log_every_n_steps = MLSAE_CONFIG_NONE;
    mlsae_run_config_derive(&cfg, &d);
    CHECK(d.max_steps == 10 && d.log_every_n_steps == 50);
}

static void test_check_model(void)
{
    /* pythia-70m: d_model 512, 6 layers */
    mlsae_run_config_defaults(&cfg);
    CHECK(mlsae_run_config_check_model(&cfg, 512, 6, &err) == 0);
    cfg.autoencoder.expansion_factor = 1;
    cfg.autoencoder.auxk = 512;
    cfg.autoencoder.k = 512;
    CHECK(mlsae_run_config_check_model(&cfg, 512, 6, &err) == 0);
    cfg.autoencoder.k = 513;
    CHECK(mlsae_run_config_check_model(&cfg, 512, 6, &err) == -1);
    CHECKF(strstr(err.msg, "autoencoder.k: 513 is more than the 512 latents") != NULL, "%s", err.msg);
    cfg.autoencoder.k = 32;
    cfg.autoencoder.auxk = 600;
    CHECK(mlsae_run_config_check_model(&cfg, 512, 6, &err) == -1 && strstr(err.msg, "autoencoder.auxk: 600"));
    cfg.autoencoder.auxk = MLSAE_CONFIG_NONE;
    cfg.n_layers = 2;
    cfg.layers[0] = 5;
    cfg.layers[1] = 6;
    CHECK(mlsae_run_config_check_model(&cfg, 512, 6, &err) == -1);
    CHECKF(strstr(err.msg, "layers: layer 6 does not exist (the model has 6 layers, 0..5)") != NULL, "%s", err.msg);
    cfg.n_layers = 0;
    cfg.autoencoder.expansion_factor = 65536;
    CHECK(mlsae_run_config_check_model(&cfg, 1 << 16, 6, &err) == -1 && strstr(err.msg, "too many"));
}

static void test_table(void)
{
    size_t n;
    const mlsae_option *opts = mlsae_run_config_options(&n);
    CHECK(n >= 30);
    for (size_t i = 0; i < n; i++) {
        /* every key is found by its own name, and no two options share a
         * flag (the lookup returns the option itself) */
        CHECKF(mlsae_run_config_find_option(opts[i].key) == &opts[i], "%s", opts[i].key);
        const char *leaf = strrchr(opts[i].key, '.');
        leaf = leaf ? leaf + 1 : opts[i].key;
        CHECKF(mlsae_run_config_find_option(leaf) == &opts[i], "leaf of %s", opts[i].key);
        CHECK(opts[i].help && opts[i].help[0] && opts[i].default_text);
    }
    const mlsae_option *k = mlsae_run_config_find_option("autoencoder.k");
    CHECK(k && mlsae_run_config_find_option("k") == k);
    const mlsae_option *ef = mlsae_run_config_find_option("autoencoder.expansion_factor");
    CHECK(ef && mlsae_run_config_find_option("expansion-factor") == ef);
    CHECK(mlsae_run_config_find_option("autoencoder.expansion-factor") == ef);
    CHECK(mlsae_run_config_find_option("model") == mlsae_run_config_find_option("model_name"));
    CHECK(mlsae_run_config_find_option("data") == mlsae_run_config_find_option("data.path"));
    CHECK(mlsae_run_config_find_option("out") ==
          mlsae_run_config_find_option("trainer.default_root_dir"));
    CHECK(mlsae_run_config_find_option("kk") == NULL);
    CHECK(mlsae_run_config_find_option("autoencoder") == NULL);
}

static void test_yaml_good(void)
{
    mlsae_run_config_defaults(&cfg);
    int rc = mlsae_run_config_load_yaml(&cfg, tu_fixture("config/good.yaml"), &err);
    CHECKF(rc == 0, "%s", err.msg);
    CHECK(cfg.autoencoder.expansion_factor == 32);
    CHECK(cfg.autoencoder.k == 64);
    CHECK(cfg.autoencoder.auxk == MLSAE_CONFIG_NONE);
    CHECK(cfg.autoencoder.lr == 2e-4);
    CHECK(cfg.autoencoder.standardize == 0);
    CHECK(cfg.autoencoder.skip_special_tokens == 1); /* untouched: default */
    CHECK(strcmp(cfg.data.path, "data/*.jsonl.zst") == 0);
    CHECK(cfg.data.max_length == 1024);
    CHECK(cfg.data.batch_size == 2);
    CHECK(cfg.data.max_tokens == 5e6);
    CHECK(cfg.trainer.accumulate_grad_batches == 8);
    CHECK(cfg.trainer.max_steps == 100);
    CHECK(strcmp(cfg.trainer.default_root_dir, "runs/x32-k64") == 0);
    CHECK(cfg.seed == 7);
    CHECK(strcmp(cfg.model_name, "EleutherAI/pythia-160m-deduped") == 0);
    CHECK(cfg.n_layers == 3 && cfg.layers[0] == 0 && cfg.layers[1] == 2 && cfg.layers[2] == 4);
    CHECK(strcmp(cfg.device, "cpu") == 0);
    CHECK(cfg.threads == 4);

    /* A file in the layout the reference saves (keys sorted, all sections). */
    mlsae_run_config_defaults(&cfg);
    rc = mlsae_run_config_load_yaml(&cfg, tu_fixture("config/reference.yaml"), &err);
    CHECKF(rc == 0, "%s", err.msg);
    CHECK(cfg.autoencoder.expansion_factor == 64);
    CHECK(strcmp(cfg.project, "mlsae") == 0);
    mlsae_run_config_defaults(&other);
    other.autoencoder.expansion_factor = 64;
    strcpy(other.project, "mlsae");
    strcpy(other.trainer.precision, "16-mixed"); /* the reference's default, which it records */
    CHECK(mlsae_run_config_equal(&cfg, &other));

    /* Empty documents and empty sections change nothing. */
    mlsae_run_config_defaults(&cfg);
    mlsae_run_config_defaults(&other);
    CHECK(mlsae_run_config_load_yaml_text(&cfg, "", 0, "empty.yaml", &err) == 0);
    const char *t = "# nothing\ntrainer:\n";
    CHECK(mlsae_run_config_load_yaml_text(&cfg, t, strlen(t), "t.yaml", &err) == 0);
    CHECK(mlsae_run_config_equal(&cfg, &other));

    /* Dotted keys, block lists, nulls, underscores, integral reals. */
    t = "autoencoder.k: 16\nlayers:\n  - 5\n  - 1\nauxk_x: null\n";
    CHECK(mlsae_run_config_load_yaml_text(&cfg, t, strlen(t), "d.yaml", &err) == -1);
    t = "autoencoder.k: 16\nlayers:\n  - 5\n  - 1\ndata: {num_workers: 3, name: ~}\n"
        "autoencoder:\n  dead_tokens_threshold: 1e7\n  auxk_coef: null\n";
    rc = mlsae_run_config_load_yaml_text(&cfg, t, strlen(t), "d.yaml", &err);
    CHECKF(rc == 0, "%s", err.msg);
    CHECK(cfg.autoencoder.k == 16 && cfg.n_layers == 2 && cfg.layers[0] == 5 && cfg.layers[1] == 1);
    CHECK(cfg.data.num_workers == 3 && cfg.autoencoder.dead_tokens_threshold == 10000000);
    CHECK(isnan(cfg.autoencoder.auxk_coef));

    /* YAML's tags, anchors and merge keys (values as PyYAML gives them) */
    mlsae_run_config_defaults(&cfg);
    t = "autoencoder:\n  k: !!int \"16\"\n  standardize: !!bool \"false\"\n"
        "  lr: !!float 1e-3\nseed: &s 5\nthreads: *s\n"
        "trainer:\n  default_root_dir: !!str 123\n"
        "data:\n  <<: [{batch_size: 3, max_length: 64}, {batch_size: 9, num_workers: 2}]\n"
        "  max_length: 128\n";
    rc = mlsae_run_config_load_yaml_text(&cfg, t, strlen(t), "tags.yaml", &err);
    CHECKF(rc == 0, "%s", err.msg);
    CHECK(cfg.autoencoder.k == 16 && cfg.autoencoder.standardize == 0);
    CHECK(cfg.autoencoder.lr == 1e-3 && cfg.seed == 5 && cfg.threads == 5);
    CHECK(strcmp(cfg.trainer.default_root_dir, "123") == 0);
    /* explicit keys win over merged ones, the earlier merged mapping over later */
    CHECK(cfg.data.max_length == 128 && cfg.data.batch_size == 3 && cfg.data.num_workers == 2);
    mlsae_run_config_defaults(&cfg);
    t = "trainer:\n  default_root_dir: ! 7\n";
    rc = mlsae_run_config_load_yaml_text(&cfg, t, strlen(t), "t.yaml", &err);
    CHECKF(rc == 0 && strcmp(cfg.trainer.default_root_dir, "7") == 0, "%s", err.msg);
}

/* Load text expecting failure; check the message holds `want`, and that the
 * configuration is left as it was. */
static void expect_yaml_error(const char *text, const char *want)
{
    mlsae_run_config_defaults(&cfg);
    mlsae_run_config_defaults(&other);
    int rc = mlsae_run_config_load_yaml_text(&cfg, text, strlen(text), "bad.yaml", &err);
    CHECKF(rc == -1, "accepted: %s", text);
    if (rc == -1) {
        CHECKF(strstr(err.msg, want) != NULL, "message '%s' lacks '%s'", err.msg, want);
        CHECKF(strchr(err.msg, '\n') == NULL, "message has a line break: %s", err.msg);
    }
    CHECK(mlsae_run_config_equal(&cfg, &other));
}

static void test_yaml_errors(void)
{
    /* the three fixture files, with file name and line:column */
    const char *f = tu_fixture("config/unknown_key.yaml");
    mlsae_run_config_defaults(&cfg);
    CHECK(mlsae_run_config_load_yaml(&cfg, f, &err) == -1);
    CHECKF(strstr(err.msg, "unknown_key.yaml:4:3: unknown key 'autoencoder.kk' "
                           "(did you mean 'autoencoder.k'?)") != NULL, "%s", err.msg);
    CHECK(cfg.autoencoder.k == 32); /* line 3 was not applied either */

    CHECK(mlsae_run_config_load_yaml(&cfg, tu_fixture("config/wrong_type.yaml"), &err) == -1);
    CHECKF(strstr(err.msg, "wrong_type.yaml:4:28: trainer.accumulate_grad_batches: "
                           "expected an integer, got 'many'") != NULL, "%s", err.msg);
    CHECK(strcmp(cfg.data.path, "monology/pile-uncopyrighted") == 0);

    CHECK(mlsae_run_config_load_yaml(&cfg, tu_fixture("config/out_of_range.yaml"), &err) == -1);
    CHECKF(strstr(err.msg, "out_of_range.yaml:3:7: autoencoder.lr: must be > 0") != NULL, "%s", err.msg);

    CHECK(mlsae_run_config_load_yaml(&cfg, tu_fixture("config/no-such-file.yaml"), &err) == -1);
    CHECK(strstr(err.msg, "no-such-file.yaml") != NULL);

    /* unknown keys, with hints */
    expect_yaml_error("k: 3\n", "bad.yaml:1:1: unknown key 'k' (did you mean 'autoencoder.k'?)");
    expect_yaml_error("seed: 1\nmodle_name: x\n", "bad.yaml:2:1: unknown key 'modle_name' (did you mean 'model_name'?)");
    expect_yaml_error("autoencoder:\n  max_length: 5\n", "2:3: unknown key 'autoencoder.max_length' (did you mean 'data.max_length'?)");
    expect_yaml_error("zzz: 1\n", "bad.yaml:1:1: unknown key 'zzz'");
    /* YAML keys are unique, in every mapping (PyYAML would keep the last) */
    expect_yaml_error("data:\n  max_length: 5\ndata:\n  batch_size: 2\n",
                      "bad.yaml:3:1: duplicate key 'data' (first at line 1, column 1)");
    expect_yaml_error("autoencoder:\n  k: 3\n  lr: 0.1\n  k: 4\n",
                      "bad.yaml:4:3: duplicate key 'k' (first at line 2, column 3)");
    expect_yaml_error("data: {batch_size: 1, batch_size: 2}\n",
                      "bad.yaml:1:23: duplicate key 'batch_size' (first at line 1, column 8)");
    expect_yaml_error("seed: 1\n\"seed\": 2\n", "bad.yaml:2:1: duplicate key 'seed'");
    expect_yaml_error("data.max_length: 5\ndata:\n  max_length: 6\n",
                      "bad.yaml:3:3: data.max_length: duplicate key");
    expect_yaml_error("data:\n  <<: {batch_size: 1}\n  <<: {max_length: 2}\n",
                      "bad.yaml:3:3: duplicate key '<<'");
    /* tags: the core scalar ones only */
    expect_yaml_error("seed: !foo 5\n", "bad.yaml:1:7: seed: unsupported tag '!foo'");
    expect_yaml_error("seed: !!binary aGk=\n", "seed: unsupported tag 'tag:yaml.org,2002:binary'");
    expect_yaml_error("autoencoder:\n  k: !!str 5\n",
                      "2:6: autoencoder.k: expected an integer, got the string '5'");
    expect_yaml_error("autoencoder: !!set {k: 5}\n", "1:14: unsupported tag");
    expect_yaml_error("layers: !!omap [{a: 1}]\n", "layers: unsupported tag");
    expect_yaml_error("data:\n  <<: 5\n", "bad.yaml:2:7: <<: a merge key takes a mapping");
    expect_yaml_error("data:\n  <<: {bogus: 1}\n", "unknown key 'data.bogus'");
    /* wrong types */
    expect_yaml_error("autoencoder:\n  k: 2.5\n", "bad.yaml:2:6: autoencoder.k: expected an integer, got the fraction '2.5'");
    expect_yaml_error("autoencoder:\n  k: \"32\"\n", "2:6: autoencoder.k: expected an integer, got the string '32'");
    expect_yaml_error("autoencoder:\n  standardize: maybe\n", "2:16: autoencoder.standardize: expected a boolean");
    expect_yaml_error("autoencoder:\n  lr: fast\n", "2:7: autoencoder.lr: expected a finite number");
    expect_yaml_error("autoencoder:\n  lr: .nan\n", "autoencoder.lr: expected a finite number");
    expect_yaml_error("autoencoder:\n  k: [1, 2]\n", "2:6: autoencoder.k: expected a single value, got a list");
    expect_yaml_error("autoencoder: 5\n", "1:14: autoencoder: expected a mapping of autoencoder options");
    expect_yaml_error("seed:\n  a: 1\n", "2:3: seed: expected a single value, got a mapping");
    expect_yaml_error("layers: 3\n", "1:9: layers: expected a list of layer indices");
    expect_yaml_error("layers: [0, x]\n", "1:13: layers: expected a list of layer indices, got 'x'");
    expect_yaml_error("layers: [0, [1]]\n", "1:13: layers: expected a layer index, got a list");
    expect_yaml_error("layers: [1, 1]\n", "layers: layer 1 is listed twice");
    expect_yaml_error("layers: []\n", "1:9: layers: an empty list selects no layer");
    expect_yaml_error("model_name: null\n", "1:13: model_name: must not be null");
    expect_yaml_error("autoencoder:\n  standardize: ~\n", "autoencoder.standardize: must not be null");
    expect_yaml_error("lens_inverse: diagonal\n", "1:15: lens_inverse: unknown lens inverse 'diagonal'");
    expect_yaml_error("revision: refs/pr/1\n", "1:11: revision: revision 'refs/pr/1'");
    expect_yaml_error("device: gpu\n", "1:9: device: unknown device 'gpu'");
    expect_yaml_error("trainer:\n  precision: 8-bit\n", "2:14: trainer.precision: precision '8-bit' is not computed");
    /* out of range */
    expect_yaml_error("autoencoder:\n  k: 0\n", "2:6: autoencoder.k: must be >= 1, got 0");
    expect_yaml_error("autoencoder:\n  expansion_factor: -2\n", "autoencoder.expansion_factor: must be >= 1, got -2");
    expect_yaml_error("data:\n  max_length: 0\n", "2:15: data.max_length: must be >= 1");
    expect_yaml_error("data:\n  batch_size: 0\n", "data.batch_size: must be >= 1");
    expect_yaml_error("data:\n  max_tokens: 0\n", "data.max_tokens: must be > 0");
    expect_yaml_error("seed: 99999999999\n", "seed: must be <= 4294967295");
    expect_yaml_error("autoencoder:\n  k: 99999999999999999999999\n", "autoencoder.k: expected an integer");
    expect_yaml_error("layers: [-1]\n", "layers: must be >= 0");
    /* structure */
    expect_yaml_error("seed: 1\nseed: 2\n", "bad.yaml:2:1: duplicate key 'seed' (first at line 1, column 1)");
    expect_yaml_error("- 1\n- 2\n", "bad.yaml:1:1: expected a mapping of options, got a list");
    expect_yaml_error("seed: 1\n---\nseed: 2\n", "bad.yaml:3: only one YAML document is allowed");
    expect_yaml_error("autoencoder:\n  k: 1\n k: 2\n", "bad.yaml:3:");
    expect_yaml_error("seed: [1\n", "bad.yaml:2:1: invalid YAML");
    expect_yaml_error("? [a, b]\n: 1\n", "bad.yaml:1:3: keys must be names");
}

static int parse(mlsae_run_config *c, int argc, char **argv)
{
    char *rest[32];
    int n_rest = 0;
    mlsae_run_config_defaults(c);
    int rc = mlsae_run_config_parse_args(c, argc, argv, rest, &n_rest, &err);
    if (rc == 0 && n_rest) rc = 100 + n_rest;
    return rc;
}

static void test_cli(void)
{
    char *a1[] = {"train", "--autoencoder.k", "64", "--autoencoder.expansion_factor=8",
                  "--lr", "3e-4", "--model", "m/n", "--data", "x.jsonl", "--layers", "0,1,2",
                  "--device", "opencl:1", "--threads", "3", "--out", "o", "--no-standardize",
                  "--skip-special-tokens", "false", "--auxk", "null", "--max-length=128"};
    int rc = parse(&cfg, 24, a1);
    CHECKF(rc == 0, "rc %d: %s", rc, err.msg);
    CHECK(cfg.autoencoder.k == 64 && cfg.autoencoder.expansion_factor == 8);
    CHECK(cfg.autoencoder.lr == 3e-4 && strcmp(cfg.model_name, "m/n") == 0);
    CHECK(strcmp(cfg.data.path, "x.jsonl") == 0 && cfg.n_layers == 3 && cfg.layers[2] == 2);
    CHECK(strcmp(cfg.device, "opencl:1") == 0 && cfg.threads == 3);
    CHECK(strcmp(cfg.trainer.default_root_dir, "o") == 0);
    CHECK(cfg.autoencoder.standardize == 0 && cfg.autoencoder.skip_special_tokens == 0);
    CHECK(cfg.autoencoder.auxk == MLSAE_CONFIG_NONE && cfg.data.max_length == 128);

    char *a2[] = {"train", "-k", "16", "--k=8", "--expansion-factor", "4", "--standardize",
                  "--layers", "[3, 4]", "-x", "2"};
    rc = parse(&cfg, 11, a2);
    CHECKF(rc == 0, "rc %d: %s", rc, err.msg);
    CHECK(cfg.autoencoder.k == 8 && cfg.autoencoder.expansion_factor == 2);
    CHECK(cfg.autoencoder.standardize == 1 && cfg.n_layers == 2 && cfg.layers[0] == 3);

    /* Unrecognised arguments are handed back in order. */
    char *a3[] = {"test", "--print", "pos", "--k", "5", "--", "--k", "9"};
    char *rest[8];
    int n_rest = -1;
    mlsae_run_config_defaults(&cfg);
    CHECK(mlsae_run_config_parse_args(&cfg, 8, a3, rest, &n_rest, &err) == 0);
    CHECK(n_rest == 4 && strcmp(rest[0], "--print") == 0 && strcmp(rest[1], "pos") == 0 &&
          strcmp(rest[2], "--k") == 0 && strcmp(rest[3], "9") == 0);
    CHECK(cfg.autoencoder.k == 5);
    /* ... or are errors when the caller takes none. */
    CHECK(mlsae_run_config_parse_args(&cfg, 2, a3, NULL, NULL, &err) == -1);
    CHECK(strstr(err.msg, "unknown option '--print'") != NULL);

    struct { int argc; char *argv[4]; const char *want; } bad[] = {
        {2, {"t", "--k"}, "option --k needs a value"},
        {3, {"t", "--k", "0"}, "option --k: must be >= 1, got 0"},
        {3, {"t", "--autoencoder.k", "abc"}, "option --autoencoder.k: expected an integer, got 'abc'"},
        {2, {"t", "--lr=-1"}, "option --lr: must be > 0"},
        {3, {"t", "--device", "cuda"}, "option --device: unknown device 'cuda'"},
        {3, {"t", "--layers", "1,x"}, "option --layers: expected a list of layer indices, got 'x'"},
        {2, {"t", "--standardize=perhaps"}, "option --standardize: expected a boolean"},
        {3, {"t", "--model", ""}, "option --model: must not be null"},
        {2, {"t", "--no-k"}, "unknown option '--no-k'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mlsae_run_config_defaults(&cfg);
        rc = mlsae_run_config_parse_args(&cfg, bad[i].argc, bad[i].argv, NULL, NULL, &err);
        CHECKF(rc == -1 && strstr(err.msg, bad[i].want), "case %zu: '%s'", i, err.msg);
    }
}

/* Sweep lists (run_config.h): words after a value of expansion_factor or k
 * are its list; the scalar holds the first; a list elsewhere is refused. */
static void test_sweep_lists(void)
{
    char *a1[] = {"train", "--autoencoder.expansion_factor", "32", "64", "128", "-k", "16",
                  "32", "--lr", "1e-4"};
    int rc = parse(&cfg, 10, a1);
    CHECKF(rc == 0, "rc %d: %s", rc, err.msg);
    CHECK(cfg.sweep.n_expansion_factor == 3 && cfg.sweep.expansion_factor[0] == 32 &&
          cfg.sweep.expansion_factor[2] == 128 && cfg.autoencoder.expansion_factor == 32);
    CHECK(cfg.sweep.n_k == 2 && cfg.sweep.k[1] == 32 && cfg.autoencoder.k == 16);
    CHECK(cfg.autoencoder.lr == 1e-4);
    /* one value: no list; given again: the new value replaces the list */
    char *a2[] = {"train", "--k", "16", "32", "--k", "8", "--expansion_factor", "4"};
    rc = parse(&cfg, 8, a2);
    CHECKF(rc == 0, "rc %d: %s", rc, err.msg);
    CHECK(cfg.sweep.n_k == 0 && cfg.autoencoder.k == 8 && cfg.sweep.n_expansion_factor == 0);
    /* a list does not swallow the next option or "--" */
    char *a3[] = {"test", "--k", "4", "8", "--", "pos"};
    char *rest[8];
    int n_rest = 0;
    mlsae_run_config_defaults(&cfg);
    CHECK(mlsae_run_config_parse_args(&cfg, 6, a3, rest, &n_rest, &err) == 0);
    CHECK(cfg.sweep.n_k == 2 && n_rest == 1 && strcmp(rest[0], "pos") == 0);

    struct { int argc; char *argv[6]; const char *want; } bad[] = {
        {4, {"t", "--lr", "1e-4", "2e-4"}, "option --lr takes one value, got also '2e-4'"},
        {4, {"t", "--model_name", "a", "b"}, "one model per command"},
        {5, {"t", "--k", "8", "4", "8"}, "option --k: 8 is listed twice"},
        {4, {"t", "--k", "8", "zero"}, "option --k: expected an integer, got 'zero'"},
        {4, {"t", "--expansion_factor", "4", "0"}, "option --expansion_factor: must be >= 1"},
        {4, {"t", "--standardize", "true", "false"}, "option --standardize takes one value"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mlsae_run_config_defaults(&cfg);
        rc = mlsae_run_config_parse_args(&cfg, bad[i].argc, bad[i].argv, NULL, NULL, &err);
        CHECKF(rc == -1 && strstr(err.msg, bad[i].want), "case %zu: '%s'", i, err.msg);
    }
    /* more values than a list holds */
    char *many[2 + MLSAE_CONFIG_MAX_SWEEP + 1];
    char vals[MLSAE_CONFIG_MAX_SWEEP + 1][8];
    many[0] = "t";
    many[1] = "--k";
    for (int i = 0; i <= MLSAE_CONFIG_MAX_SWEEP; i++) {
        snprintf(vals[i], sizeof vals[i], "%d", i + 1);
        many[2 + i] = vals[i];
    }
    mlsae_run_config_defaults(&cfg);
    rc = mlsae_run_config_parse_args(&cfg, 2 + MLSAE_CONFIG_MAX_SWEEP + 1, many, NULL, NULL, &err);
    CHECKF(rc == -1 && strstr(err.msg, "at most"), "'%s'", err.msg);
}

static void test_precedence(void)
{
    const char *good = tu_fixture("config/good.yaml"); /* sets k 64, seed 7 */
    char g[4200];
    snprintf(g, sizeof g, "%s", good);
    char cfgeq[4300];
    snprintf(cfgeq, sizeof cfgeq, "--config=%s", good);
    char *rest[8];
    int n_rest;

    /* the command line wins over the file, wherever it stands */
    char *a1[] = {"train", "--k", "5", "--config", g};
    CHECK(mlsae_run_config_from_args(&cfg, 5, a1, rest, &n_rest, &err) == 0 && n_rest == 0);
    CHECK(cfg.autoencoder.k == 5 && cfg.seed == 7 && cfg.autoencoder.expansion_factor == 32);
    char *a2[] = {"train", cfgeq, "--seed", "9"};
    CHECK(mlsae_run_config_from_args(&cfg, 4, a2, rest, &n_rest, &err) == 0);
    CHECK(cfg.autoencoder.k == 64 && cfg.seed == 9);

    /* several files apply in order */
    char *dir_path = malloc(4200);
    snprintf(dir_path, 4200, "%s/second.yaml", tu_tmpdir());
    FILE *f = fopen(dir_path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("autoencoder:\n  k: 128\n", f);
        fclose(f);
    }
    char *a3[] = {"train", "-c", g, "--config", dir_path};
    CHECK(mlsae_run_config_from_args(&cfg, 5, a3, rest, &n_rest, &err) == 0);
    CHECK(cfg.autoencoder.k == 128 && cfg.seed == 7);
    char *a4[] = {"train", "-c", dir_path, "--config", g};
    CHECK(mlsae_run_config_from_args(&cfg, 5, a4, rest, &n_rest, &err) == 0);
    CHECK(cfg.autoencoder.k == 64);
    free(dir_path);

    char *a5[] = {"train", "--config"};
    CHECK(mlsae_run_config_from_args(&cfg, 2, a5, rest, &n_rest, &err) == -1);
    CHECK(strstr(err.msg, "--config needs a file name") != NULL);
    char *a6[] = {"train", "--config", "/nonexistent/run.yaml"};
    CHECK(mlsae_run_config_from_args(&cfg, 3, a6, rest, &n_rest, &err) == -1);
    CHECK(strstr(err.msg, "/nonexistent/run.yaml") != NULL);
}

static void round_trip(const mlsae_run_config *c, const char *what)
{
    char *text = NULL;
    size_t len = 0;
    int rc = mlsae_run_config_to_yaml(c, &text, &len, &err);
    CHECKF(rc == 0, "%s: %s", what, err.msg);
    if (rc != 0) return;
    CHECK(strlen(text) == len);
    mlsae_run_config_defaults(&other);
    /* start from something different so every key must be read */
    other.autoencoder.k = 999;
    other.n_layers = 1;
    rc = mlsae_run_config_load_yaml_text(&other, text, len, what, &err);
    CHECKF(rc == 0, "%s: %s\n%s", what, err.msg, text);
    CHECKF(mlsae_run_config_equal(c, &other), "%s: differs after the round trip:\n%s", what, text);
    free(text);
}

static void test_round_trip(void)
{
    mlsae_run_config_defaults(&cfg);
    round_trip(&cfg, "defaults");

    char *text = NULL;
    mlsae_run_config_to_yaml(&cfg, &text, NULL, &err);
    CHECK(text && strstr(text, "autoencoder:\n  expansion_factor: 16\n  k: 32\n") != NULL);
    CHECK(text && strstr(text, "\n  max_tokens: 1000000000.0\n") != NULL);
    CHECK(text && strstr(text, "\nlayers: null\n") != NULL);
    free(text);

    /* values that need care: strings that look like other types, special
     * characters, unicode, null reals, tiny reals, lists */
    strcpy(cfg.run, "null");
    strcpy(cfg.project, "123");
    strcpy(cfg.data.name, "yes");
    strcpy(cfg.data.path, "dir with spaces/a: b # c.jsonl");
    strcpy(cfg.model_name, "-model\"quoted\"'s");
    strcpy(cfg.tokenizer, "t\xc3\xa9st/\xe6\xbc\xa2.json");
    strcpy(cfg.trainer.checkpoint_path, "~");
    cfg.autoencoder.auxk_coef = NAN;
    cfg.autoencoder.auxk = MLSAE_CONFIG_NONE;
    cfg.autoencoder.lr = 1.0 / 3.0;
    cfg.autoencoder.dead_threshold = 1e-300;
    cfg.data.max_tokens = 123456789.5;
    cfg.n_layers = 3;
    cfg.layers[0] = 5, cfg.layers[1] = 0, cfg.layers[2] = 1023;
    cfg.autoencoder.standardize = 0;
    cfg.trainer.max_steps = 1;
    cfg.data.num_workers = 0;
    round_trip(&cfg, "special");

    mlsae_run_config_to_yaml(&cfg, &text, NULL, &err);
    CHECK(text && strstr(text, "dead_threshold: 1.0e-300\n") != NULL);
    free(text);
}

static void test_help(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(f != NULL);
    if (!f) return;
    mlsae_run_config_print_help(f);
    fclose(f);
    size_t n;
    const mlsae_option *opts = mlsae_run_config_options(&n);
    for (size_t i = 0; i < n; i++) {
        char want[256];
        snprintf(want, sizeof want, "--%s %s", opts[i].key, opts[i].metavar);
        CHECKF(strstr(buf, want) != NULL, "help lacks %s", want);
        snprintf(want, sizeof want, "%s [default: %s]", opts[i].help, opts[i].default_text);
        CHECKF(strstr(buf, want) != NULL, "help lacks %s", want);
    }
    CHECK(strstr(buf, "--autoencoder.k N, -k") != NULL);
    free(buf);
}

int main(void)
{
    test_defaults();
    test_table();
    test_check_model();
    test_yaml_good();
    test_yaml_errors();
    test_cli();
    test_sweep_lists();
    test_precedence();
    test_round_trip();
    test_help();
    return tu_finish("test_config");
}
