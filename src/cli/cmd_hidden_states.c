/* mlsae hidden-states: run a GPT-NeoX model on token ids and save the
 * residual stream after every layer, plus the logits (SPEC §2). */
#include "config.h"
#include "cli/commands.h"
#include "cli/download_progress.h"
#include "backend/backend.h"
#include "core/atomic_file.h"
#include "core/progress.h"
#include "core/safetensors.h"
#include "hub/hub.h"
#include "model/neox.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CMD "hidden-states"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: mlsae hidden-states --model MODEL (--ids IDS | --ids-file FILE) --out FILE\n"
            "                           [--revision REV] [--device DEVICE] [--threads N]\n"
            "                           [--no-logits]\n"
            "\n"
            "Run a GPT-NeoX (Pythia) model on token ids and write a safetensors file with\n"
            "  hidden_states  F32 [n_layers, batch, positions, d_model]  the residual stream\n"
            "                 after every layer (not the embeddings, not after the final\n"
            "                 layer norm; special tokens are not masked)\n"
            "  logits         F32 [batch, positions, vocab_rows]  (unless --no-logits)\n"
            "\n"
            "Options:\n"
            "  --model MODEL     a HF model directory (config.json + model.safetensors,\n"
            "                    pytorch_model.bin or a sharded index of either), or a repo\n"
            "                    id such as\n"
            "                    EleutherAI/pythia-70m-deduped: taken from the HF cache, and\n"
            "                    downloaded into it when it is not there (see Environment)\n"
            "  --revision REV    the repo id's branch, tag (Pythia: step0 ... step143000) or\n"
            "                    commit hash (default main); cached revisions resolve offline\n"
            "  --ids IDS         one sequence of token ids, separated by commas or spaces\n"
            "  --ids-file FILE   one sequence per line (ids separated by spaces or commas);\n"
            "                    every line must have the same length; they form the batch\n"
            "  --out FILE        output .safetensors (written atomically)\n"
            "  --device DEVICE   cpu (default), opencl, opencl:N or auto\n"
            "  --threads N       CPU threads (default: all)\n"
            "  --no-logits       skip the final layer norm and embed_out\n"
            "  --repeat N        run the forward N times (for timing; default 1)\n"
            "  --timing          print load and forward times and tokens/s to stdout\n"
            "  -h, --help        show this help\n"
            "\n"
            "Environment (a repo id given to --model):\n"
            "  HF_HUB_CACHE      the cache (default $HF_HOME/hub)\n"
            "  HF_HOME           default ~/.cache/huggingface (or $XDG_CACHE_HOME/huggingface)\n"
            "  HF_HUB_OFFLINE    1: never download; a model missing from the cache is an\n"
            "                    error naming the directory to fill\n"
            "  HF_ENDPOINT       the hub (default https://huggingface.co); a file:// mirror\n"
            "                    laid out as REPO/resolve/REV/FILE also works\n"
            "  HF_TOKEN          access token for private or gated repos (else the file\n"
            "                    $HF_TOKEN_PATH, default $HF_HOME/token)\n"
            "  Downloads fetch config.json, model.safetensors (or its sharded index and\n"
            "  shards; else pytorch_model.bin or its index and shards) and tokenizer.json,\n"
            "  showing progress on stderr.\n"
            "\n"
            "Example:\n"
            "  mlsae hidden-states --model EleutherAI/pythia-70m-deduped --ids 12092,1533 \\\n"
            "      --out hs.safetensors\n");
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct id_list {
    int32_t *v;
    size_t n, cap;
} id_list;

static int push(id_list *l, int32_t id)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 256;
        int32_t *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv) return -1;
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = id;
    return 0;
}

/* Parse ids separated by commas and/or blanks; `where` names the source. */
static int parse_ids(const char *s, id_list *out, size_t *count, const char *where)
{
    size_t item = 0;
    *count = 0;
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',' || *p == '\r') p++;
        if (!*p || *p == '\n') break;
        item++;
        if (*p < '0' || *p > '9') {
            int len = 0;
            while (p[len] && p[len] != ' ' && p[len] != ',' && p[len] != '\n' && len < 20) len++;
            return cli_error(CMD, "%s: item %zu '%.*s' is not a token id (a non-negative integer)",
                             where, item, len, p);
        }
        errno = 0;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (errno || v > INT32_MAX)
            return cli_error(CMD, "%s: item %zu is too large for a token id", where, item);
        if (*end && *end != ' ' && *end != '\t' && *end != ',' && *end != '\n' && *end != '\r')
            return cli_error(CMD, "%s: item %zu is not a token id (unexpected '%c')", where, item,
                             *end);
        if (push(out, (int32_t)v)) return cli_error(CMD, "out of memory");
        (*count)++;
        p = end;
    }
    return 0;
}

/* All lines of FILE (blank lines skipped) as a [batch, seq] array; *lines:
 * the file's line (from 1) of each sequence, malloc'ed (NULL on error). */
static int read_ids_file(const char *path, id_list *ids, int *batch, int *seq, size_t **lines)
{
    *lines = NULL;
    char *text;
    size_t n;
    mlsae_error err;
    if (mlsae_read_file(path, &text, &n, &err)) return cli_error(CMD, "%s", err.msg);
    if (strlen(text) != n) {
        free(text);
        return cli_error(CMD, "%s: contains a NUL byte (not a text file)", path);
    }
    int rc = 0;
    size_t line_no = 0, first_len = 0, first_line = 0;
    *batch = 0;
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        line_no++;
        char where[4200];
        snprintf(where, sizeof where, "%s:%zu", path, line_no);
        size_t count;
        if ((rc = parse_ids(line, ids, &count, where))) break;
        if (count) {
            if (*batch == 0) {
                first_len = count;
                first_line = line_no;
            } else if (count != first_len) {
                rc = cli_error(CMD, "%s: %zu ids, but line %zu has %zu (all sequences must have "
                               "the same length)", where, count, first_line, first_len);
                break;
            }
            size_t *nl_ = realloc(*lines, ((size_t)*batch + 1) * sizeof *nl_);
            if (!nl_) {
                rc = cli_error(CMD, "out of memory");
                break;
            }
            *lines = nl_;
            (*lines)[*batch] = line_no;
            (*batch)++;
        }
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    if (!rc && *batch == 0) rc = cli_error(CMD, "%s: no token ids", path);
    if (!rc && first_len > INT32_MAX) rc = cli_error(CMD, "%s: lines are too long", path);
    *seq = (int)first_len;
    if (rc) {
        free(*lines);
        *lines = NULL;
    }
    return rc;
}

/* lines: the file's line of each sequence (NULL for --ids). */
static int check_ids(const id_list *ids, int seq, const char *src, const size_t *lines,
                     const mlsae_neox_config *c)
{
    if (seq > c->max_positions)
        return cli_error(CMD, "%s: sequences of %d tokens are longer than the model's context "
                         "(max_position_embeddings %d)", src, seq, c->max_positions);
    for (size_t i = 0; i < ids->n; i++) {
        if (ids->v[i] < c->vocab_size) continue;
        char where[4200];
        if (lines) snprintf(where, sizeof where, "%s:%zu", src, lines[i / seq]);
        else snprintf(where, sizeof where, "%s", src);
        return cli_error(CMD, "%s: token id %d (sequence %zu, token %zu, both counted from "
                         "1) is outside the model's vocabulary (0..%d)", where, ids->v[i],
                         i / seq + 1, i % seq + 1, c->vocab_size - 1);
    }
    return 0;
}

int cmd_hidden_states(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},  {"ids", required_argument, NULL, 'i'},
        {"ids-file", required_argument, NULL, 'f'}, {"out", required_argument, NULL, 'o'},
        {"device", required_argument, NULL, 'd'}, {"threads", required_argument, NULL, 't'},
        {"no-logits", no_argument, NULL, 'n'},     {"help", no_argument, NULL, 'h'},
        {"repeat", required_argument, NULL, 'r'},  {"timing", no_argument, NULL, 'T'},
        {"revision", required_argument, NULL, 'R'},
        {NULL, 0, NULL, 0},
    };
    const char *model_name = NULL, *ids_arg = NULL, *ids_file = NULL, *out_path = NULL;
    const char *device = "cpu", *revision = NULL;
    int threads = 0, no_logits = 0, repeat = 1, timing = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_name = optarg; break;
        case 'R': revision = optarg; break;
        case 'i': ids_arg = optarg; break;
        case 'f': ids_file = optarg; break;
        case 'o': out_path = optarg; break;
        case 'd': device = optarg; break;
        case 'n': no_logits = 1; break;
        case 'T': timing = 1; break;
        case 'r': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 1000)
                return cli_error(CMD, "--repeat: '%s' is not a count (1..1000)", optarg);
            repeat = (int)v;
            break;
        }
        case 't': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 4096)
                return cli_error(CMD, "--threads: '%s' is not a thread count (1..4096)", optarg);
            threads = (int)v;
            break;
        }
        case 'h': usage(stdout); return 0;
        case ':': return cli_error(CMD, "%s needs a value (see --help)", argv[optind - 1]);
        default: return cli_error(CMD, "unknown option '%s' (see --help)", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_error(CMD, "unexpected argument '%s' (see --help)", argv[optind]);
    if (!model_name) return cli_error(CMD, "--model is required (see --help)");
    if (!out_path) return cli_error(CMD, "--out is required (see --help)");
    if (!ids_arg == !ids_file) return cli_error(CMD, "give exactly one of --ids and --ids-file");

    id_list ids = {0};
    int batch = 1, seq = 0, rc = 1;
    const char *src = ids_file ? ids_file : "--ids";
    size_t *id_lines = NULL; /* the file's line of each sequence */
    char *dir = NULL;
    mlsae_backend *be = NULL;
    mlsae_neox *m = NULL;
    float *hidden = NULL, *logits = NULL;
    mlsae_st_writer *w = NULL;
    mlsae_error err = {{0}};
    /* a bad --out fails before the model is loaded and run */
    if (mlsae_check_output_file(out_path, &err)) {
        cli_error(CMD, "--out %s", err.msg);
        goto done;
    }
    if (ids_file) {
        if (read_ids_file(ids_file, &ids, &batch, &seq, &id_lines)) goto done;
    } else {
        size_t count;
        if (parse_ids(ids_arg, &ids, &count, "--ids")) goto done;
        if (!count) {
            cli_error(CMD, "--ids: no token ids");
            goto done;
        }
        if (count > INT32_MAX) {
            cli_error(CMD, "--ids: too many ids");
            goto done;
        }
        seq = (int)count;
    }
    cli_download_progress(1);
    int resolved = mlsae_model_resolve_revision(model_name, revision, &dir, &err);
    cli_download_progress(0);
    if (resolved) {
        cli_error(CMD, "%s", err.msg);
        goto done;
    }
    mlsae_neox_config cfg;
    if (mlsae_neox_config_load(dir, &cfg, &err)) {
        cli_error(CMD, "%s", err.msg);
        goto done;
    }
    if (check_ids(&ids, seq, src, id_lines, &cfg)) goto done;
    mlsae_backend_params params = {.n_threads = threads, .device_index = -1};
    if (mlsae_backend_open(device, &params, &be, &err)) {
        cli_error(CMD, "%s", err.msg);
        goto done;
    }
    double t0 = now_seconds();
    if (mlsae_neox_load(dir, be, no_logits ? MLSAE_NEOX_NO_LM_HEAD : 0, &m, &err)) {
        cli_error(CMD, "%s", err.msg);
        goto done;
    }
    size_t rows = (size_t)batch * seq, d = (size_t)cfg.hidden_size, v = (size_t)cfg.vocab_size;
    hidden = malloc((size_t)cfg.n_layers * rows * d * sizeof *hidden);
    if (!no_logits) logits = malloc(rows * v * sizeof *logits);
    if (!hidden || (!no_logits && !logits)) {
        cli_error(CMD, "out of memory for the outputs (%zu positions)", rows);
        goto done;
    }
    int *layers = malloc((size_t)cfg.n_layers * sizeof *layers);
    if (!layers) {
        cli_error(CMD, "out of memory");
        goto done;
    }
    for (int l = 0; l < cfg.n_layers; l++) layers[l] = l;
    mlsae_neox_run run = {.tokens = ids.v, .batch = batch, .seq = seq, .start_layer = -1,
                          .layers = layers, .n_layers = cfg.n_layers, .hidden_host = hidden,
                          .logits_host = logits};
    double t_load = now_seconds() - t0, best = 0;
    int frc = 0;
    for (int i = 0; i < repeat && !frc; i++) {
        double t1 = now_seconds();
        frc = mlsae_neox_forward(m, &run, &err);
        double dt = now_seconds() - t1;
        if (i == 0 || dt < best) best = dt;
    }
    free(layers);
    if (!frc && timing)
        printf("load %.3f s; forward %.4f s (best of %d), %d x %d tokens, %.1f tokens/s; %s\n",
               t_load, best, repeat, batch, seq, (double)rows / best, be->ops->describe(be));
    if (frc) {
        cli_error(CMD, "%s", err.msg);
        goto done;
    }
    w = mlsae_st_writer_new();
    int64_t hs_shape[4] = {cfg.n_layers, batch, seq, (int64_t)d};
    int64_t lg_shape[3] = {batch, seq, (int64_t)v};
    if (!w || mlsae_st_writer_add(w, "hidden_states", MLSAE_DT_F32, 4, hs_shape, hidden, &err) ||
        (logits && mlsae_st_writer_add(w, "logits", MLSAE_DT_F32, 3, lg_shape, logits, &err)) ||
        mlsae_st_writer_metadata(w, "format", "pt", &err) ||
        mlsae_st_writer_save(w, out_path, &err)) {
        cli_error(CMD, "%s", w ? err.msg : "out of memory");
        goto done;
    }
    rc = 0;
done:
    mlsae_st_writer_free(w);
    free(hidden);
    free(logits);
    mlsae_neox_free(m);
    if (be) mlsae_backend_close(be);
    free(dir);
    free(ids.v);
    free(id_lines);
    return rc;
}
