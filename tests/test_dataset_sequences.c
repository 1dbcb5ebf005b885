/* Sequence building on the shared corpora against the reference procedure
 * run with HF transformers (tests/fixtures/text/sequences.json, from
 * tests/gen/gen_sequences.py): number of sequences and batches, the size of
 * the last batch, a hash of the whole stream and the first two batches id for
 * id, for several max_length / group size / batch size settings (including
 * the reference default group of 1024 documents). The background loader must
 * give the same stream, also when resumed mid-way. SKIPs without shared data. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "text_testgen.h"
#include "testutil.h"
#include "dataset/loader.h"
#include "dataset/sequences.h"

typedef struct run {
    mlsae_ids ids;
    size_t batches, last_rows;
    mlsae_data_position mid; /* position after about a third of the batches */
    size_t mid_tokens;
} run;

static int sources(json_t *cfg, const char **src)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(cfg, "sources"), i, s) {
        src[i] = tu_shared_data(json_string_value(s));
        if (!src[i]) return -1;
    }
    return (int)json_array_size(json_object_get(cfg, "sources"));
}

static mlsae_seq_config seq_config(json_t *cfg)
{
    mlsae_seq_config c = {
        .max_length = (size_t)json_integer_value(json_object_get(cfg, "max_length")),
        .batch_size = (size_t)json_integer_value(json_object_get(cfg, "batch_size")),
        .group_size = (size_t)json_integer_value(json_object_get(cfg, "group_size")),
        .n_threads = 2,
    };
    return c;
}

/* The loader's stream from `start` (NULL: the beginning). */
static int loader_run(const mlsae_tokenizer *tok, json_t *cfg, const mlsae_data_position *start,
                      size_t mid_batch, run *out)
{
    memset(out, 0, sizeof *out);
    const char *src[8];
    int n_src = sources(cfg, src);
    mlsae_loader_config lc = {.sources = src, .n_sources = (size_t)n_src, .tok = tok,
                              .seq = seq_config(cfg), .queue_depth = 3, .start = start};
    mlsae_loader *ld;
    mlsae_error err;
    if (mlsae_loader_open(&lc, &ld, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    mlsae_batch b;
    int r;
    while ((r = mlsae_loader_next(ld, &b, &err)) == 1) {
        size_t n = b.rows * b.max_length;
        mlsae_ids_reserve(&out->ids, n);
        memcpy(out->ids.data + out->ids.len, b.ids, n * sizeof(int32_t));
        out->ids.len += n;
        out->batches++;
        out->last_rows = b.rows;
        if (out->batches == mid_batch) {
            mlsae_loader_position(ld, &out->mid);
            out->mid_tokens = out->ids.len;
        }
    }
    if (r < 0) fprintf(stderr, "%s\n", err.msg);
    mlsae_loader_close(ld);
    return r;
}

static void check_config(const mlsae_tokenizer *tok, json_t *cfg)
{
    size_t L = (size_t)json_integer_value(json_object_get(cfg, "max_length"));
    size_t B = (size_t)json_integer_value(json_object_get(cfg, "batch_size"));
    size_t G = (size_t)json_integer_value(json_object_get(cfg, "group_size"));
    size_t want_seq = (size_t)json_integer_value(json_object_get(cfg, "n_sequences"));
    size_t want_batches = (size_t)json_integer_value(json_object_get(cfg, "n_batches"));
    char label[128];
    snprintf(label, sizeof label, "max_length %zu, group %zu, batch %zu", L, G, B);

    /* The synchronous builder. */
    const char *src[8];
    int n_src = sources(cfg, src);
    mlsae_dataset *ds;
    mlsae_error err;
    CHECK(mlsae_dataset_open(src, (size_t)n_src, &ds, &err) == 0);
    mlsae_seq_config sc = seq_config(cfg);
    mlsae_seq_builder *b;
    CHECK(mlsae_seq_builder_open(ds, tok, &sc, NULL, &b, &err) == 0);
    int32_t *buf = malloc(B * L * sizeof *buf);
    mlsae_ids all = {0};
    size_t rows, batches = 0, last_rows = 0, first_ok = 0;
    int r;
    json_t *first = json_object_get(cfg, "first_batches");
    while ((r = mlsae_seq_builder_next_batch(b, buf, &rows, &err)) == 1) {
        if (batches < json_array_size(first)) {
            json_t *fb = json_array_get(first, batches);
            int ok = json_array_size(fb) == rows;
            for (size_t i = 0; ok && i < rows; i++)
                ok = tg_ids_equal(buf + i * L, L, json_array_get(fb, i), label);
            CHECKF(ok, "%s: batch %zu differs from the reference", label, batches);
            first_ok += ok;
        }
        mlsae_ids_reserve(&all, rows * L);
        memcpy(all.data + all.len, buf, rows * L * sizeof(int32_t));
        all.len += rows * L;
        batches++;
        last_rows = rows;
    }
    CHECKF(r == 0, "%s: %s", label, err.msg);
    mlsae_seq_builder_close(b);
    char fnv[17];
    tg_fnv64_hex(all.data, all.len, fnv);
    int ok = all.len == want_seq * L && batches == want_batches &&
             last_rows == (size_t)json_integer_value(json_object_get(cfg, "last_batch_rows")) &&
             strcmp(fnv, json_string_value(json_object_get(cfg, "fnv"))) == 0;
    CHECKF(ok, "%s: %zu sequences in %zu batches (fnv %s); reference %zu in %zu (fnv %s)", label,
           all.len / L, batches, fnv, want_seq, want_batches,
           json_string_value(json_object_get(cfg, "fnv")));
    printf("  %s: %zu sequences, %zu batches, fnv %s: %s (first %zu batches id for id)\n", label,
           all.len / L, batches, fnv, ok ? "same as the reference" : "DIFFERENT", first_ok);

    /* The loader, from the start and resumed from a third of the way. */
    run bg, rest;
    size_t mid = batches / 3 + 1;
    CHECK(loader_run(tok, cfg, NULL, mid, &bg) == 0);
    CHECKF(bg.ids.len == all.len && memcmp(bg.ids.data, all.data, all.len * sizeof(int32_t)) == 0,
           "%s: loader stream differs from the builder's", label);
    CHECK(loader_run(tok, cfg, &bg.mid, 0, &rest) == 0);
    CHECKF(rest.ids.len == all.len - bg.mid_tokens &&
               memcmp(rest.ids.data, all.data + bg.mid_tokens, rest.ids.len * sizeof(int32_t)) == 0,
           "%s: loader resumed after batch %zu differs", label, mid);
    mlsae_ids_free(&bg.ids);
    mlsae_ids_free(&rest.ids);
    mlsae_ids_free(&all);
    free(buf);
}

int main(void)
{
    const char *tok_path = tu_shared_data("gpt-neox-20b-tokenizer.json");
    if (!tok_path) tu_skip("the shared data (tokenizer and corpora) is absent");
    json_t *fixture = tg_load_json(tu_fixture("text/sequences.json"));
    mlsae_tokenizer *tok;
    mlsae_error err;
    if (mlsae_tokenizer_load(tok_path, &tok, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    size_t i;
    json_t *cfg;
    json_array_foreach(json_object_get(fixture, "configs"), i, cfg) {
        const char *src[8];
        if (sources(cfg, src) < 0) {
            printf("  SKIP configuration %zu: a corpus is missing from the shared data\n", i);
            continue;
        }
        check_config(tok, cfg);
    }
    mlsae_tokenizer_free(tok);
    json_decref(fixture);
    return tu_finish("test_dataset_sequences");
}
