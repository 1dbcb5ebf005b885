/* Sequence building and the background loader, without shared data: a
 * small JSONL dataset written at run time and the tiny tokenizer fixture.
 * Checks: the builder's stream equals the reference procedure re-derived
 * here from the tokenizer (eos + doc per document, groups, consecutive
 * chunks, last chunk of each group dropped, batches); the loader's stream
 * equals the builder's; resuming from the position saved after any batch
 * reproduces the rest exactly; errors reach the consumer after the batches
 * made before them; closing mid-stream does not hang. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/atomic_file.h"
#include "testutil.h"
#include "dataset/loader.h"
#include "dataset/sequences.h"

#define N_DOCS 23
#define L 16
#define GROUP 3
#define BATCH 2

static char *doc_text(int i)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "Document %d says: %.*s the end%s", i, 5 + (i * 37) % 120,
             "lorem ipsum dolor sit amet, consectetur adipiscing elit sed do eiusmod tempor "
             "incididunt ut labore et dolore magna aliqua, ut enim ad minim veniam, quis nostrud",
             i % 4 == 0 ? " <|endoftext|> inner" : "");
    return buf;
}

static const char *write_dataset(const char *name, int bad_line)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", tu_tmpdir(), name);
    size_t cap = 1 << 16, w = 0;
    char *s = malloc(cap);
    for (int i = 0; i < N_DOCS; i++) {
        if (i + 1 == bad_line)
            w += (size_t)snprintf(s + w, cap - w, "{\"text\": oops}\n");
        else
            w += (size_t)snprintf(s + w, cap - w, "{\"text\": \"%s\"}\n", doc_text(i));
    }
    mlsae_error err;
    if (mlsae_write_file_atomic(path, s, w, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    free(s);
    return path;
}

/* The expected sequences, derived directly from the definition. */
static mlsae_ids expected_sequences(const mlsae_tokenizer *tok, size_t *n_seq)
{
    mlsae_ids seqs = {0};
    *n_seq = 0;
    mlsae_error err;
    for (int g = 0; g < N_DOCS; g += GROUP) {
        mlsae_ids group = {0};
        for (int i = g; i < g + GROUP && i < N_DOCS; i++) {
            mlsae_ids_push(&group, mlsae_tokenizer_eos_id(tok));
            const char *t = doc_text(i);
            mlsae_tokenizer_encode(tok, t, strlen(t), &group, &err);
        }
        size_t chunks = (group.len + L - 1) / L;
        for (size_t c = 0; c + 1 < chunks; c++) {
            mlsae_ids_reserve(&seqs, L);
            memcpy(seqs.data + seqs.len, group.data + c * L, L * sizeof(int32_t));
            seqs.len += L;
            (*n_seq)++;
        }
        mlsae_ids_free(&group);
    }
    return seqs;
}

typedef struct stream {
    mlsae_ids ids;
    size_t batches;
    size_t rows[64];
    mlsae_data_position after[64];
} stream;

static void builder_stream(const mlsae_tokenizer *tok, const char *path,
                           const mlsae_data_position *start, stream *out)
{
    memset(out, 0, sizeof *out);
    mlsae_dataset *ds;
    mlsae_error err;
    const char *src[] = {path};
    CHECK(mlsae_dataset_open(src, 1, &ds, &err) == 0);
    mlsae_seq_config cfg = {.max_length = L, .batch_size = BATCH, .group_size = GROUP, .n_threads = 2};
    mlsae_seq_builder *b;
    if (mlsae_seq_builder_open(ds, tok, &cfg, start, &b, &err) != 0) {
        CHECKF(0, "builder open: %s", err.msg);
        return;
    }
    int32_t buf[BATCH * L];
    size_t rows;
    int r;
    while ((r = mlsae_seq_builder_next_batch(b, buf, &rows, &err)) == 1 && out->batches < 64) {
        mlsae_ids_reserve(&out->ids, rows * L);
        memcpy(out->ids.data + out->ids.len, buf, rows * L * sizeof(int32_t));
        out->ids.len += rows * L;
        out->rows[out->batches] = rows;
        mlsae_seq_builder_position(b, &out->after[out->batches]);
        out->batches++;
    }
    CHECKF(r == 0, "builder: %s", err.msg);
    mlsae_seq_builder_close(b);
}

static int loader_stream(const mlsae_tokenizer *tok, const char *path,
                         const mlsae_data_position *start, size_t depth, stream *out,
                         mlsae_error *err)
{
    memset(out, 0, sizeof *out);
    const char *src[] = {path};
    mlsae_loader_config cfg = {
        .sources = src, .n_sources = 1, .tok = tok,
        .seq = {.max_length = L, .batch_size = BATCH, .group_size = GROUP, .n_threads = 2},
        .queue_depth = depth, .start = start};
    mlsae_loader *ld;
    if (mlsae_loader_open(&cfg, &ld, err) != 0) return -1;
    mlsae_batch batch;
    int r;
    while ((r = mlsae_loader_next(ld, &batch, err)) == 1 && out->batches < 64) {
        CHECK(batch.max_length == L);
        mlsae_ids_reserve(&out->ids, batch.rows * L);
        memcpy(out->ids.data + out->ids.len, batch.ids, batch.rows * L * sizeof(int32_t));
        out->ids.len += batch.rows * L;
        out->rows[out->batches] = batch.rows;
        mlsae_loader_position(ld, &out->after[out->batches]);
        CHECK(mlsae_loader_tokens_seen(ld) == out->after[out->batches].tokens);
        out->batches++;
    }
    mlsae_loader_close(ld);
    return r;
}

static int same_ids(const int32_t *a, const int32_t *b, size_t n)
{
    return n == 0 || memcmp(a, b, n * sizeof(int32_t)) == 0;
}

int main(void)
{
    mlsae_tokenizer *tok;
    mlsae_error err;
    if (mlsae_tokenizer_load(tu_fixture("text/tiny-tokenizer.json"), &tok, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const char *path = write_dataset("docs.jsonl", 0);

    size_t n_seq;
    mlsae_ids want = expected_sequences(tok, &n_seq);
    CHECKF(n_seq >= 10, "the test data should give several batches (%zu sequences)", n_seq);

    stream sync;
    builder_stream(tok, path, NULL, &sync);
    CHECKF(sync.ids.len == want.len && same_ids(sync.ids.data, want.data, want.len),
           "builder: %zu ids, expected %zu", sync.ids.len, want.len);
    CHECK(sync.batches == (n_seq + BATCH - 1) / BATCH);
    CHECK(sync.batches > 0 && sync.rows[sync.batches - 1] == (n_seq % BATCH ? n_seq % BATCH : BATCH));

    for (size_t depth = 1; depth <= 3; depth += 2) {
        stream bg;
        CHECKF(loader_stream(tok, path, NULL, depth, &bg, &err) == 0, "loader: %s", err.msg);
        CHECKF(bg.ids.len == sync.ids.len && same_ids(bg.ids.data, sync.ids.data, sync.ids.len),
               "loader (queue depth %zu) stream differs from the builder's", depth);
        CHECK(bg.batches == sync.batches);
        mlsae_ids_free(&bg.ids);
    }

    /* Resume after every batch: builder and loader continue identically. */
    size_t done = 0;
    for (size_t k = 0; k < sync.batches; k++) {
        mlsae_data_position pos = sync.after[k];
        CHECK(pos.batches == k + 1);
        size_t prefix = 0;
        for (size_t j = 0; j <= k; j++) prefix += sync.rows[j] * L;
        CHECK(pos.tokens == prefix);
        stream rest, rest_bg;
        builder_stream(tok, path, &pos, &rest);
        CHECKF(loader_stream(tok, path, &pos, 2, &rest_bg, &err) == 0, "resumed loader: %s", err.msg);
        int ok = rest.ids.len == sync.ids.len - prefix &&
                 same_ids(rest.ids.data, sync.ids.data + prefix, rest.ids.len) &&
                 rest_bg.ids.len == rest.ids.len &&
                 same_ids(rest_bg.ids.data, rest.ids.data, rest.ids.len);
        CHECKF(ok, "resume after batch %zu", k);
        if (rest.batches) CHECK(rest.after[rest.batches - 1].tokens == sync.ids.len);
        done += ok;
        mlsae_ids_free(&rest.ids);
        mlsae_ids_free(&rest_bg.ids);
    }
    printf("  %zu sequences in %zu batches; resumed identically after %zu/%zu batches\n", n_seq,
           sync.batches, done, sync.batches);

    /* A position from another configuration is refused. */
    mlsae_data_position odd = {.group_doc = 1, .group_seq = 2};
    stream tmp;
    CHECK(loader_stream(tok, path, &odd, 2, &tmp, &err) < 0 && strstr(err.msg, "position"));
    mlsae_ids_free(&tmp.ids);

    /* An error in the data reaches the consumer, after the earlier batches. */
    const char *bad = write_dataset("bad.jsonl", 17);
    stream part;
    int r = loader_stream(tok, bad, NULL, 2, &part, &err);
    CHECKF(r < 0 && strstr(err.msg, "bad.jsonl:17:"), "error propagation: r=%d '%s'", r, err.msg);
    CHECKF(part.batches > 0 && same_ids(part.ids.data, sync.ids.data, part.ids.len),
           "batches before the error (%zu)", part.batches);
    mlsae_ids_free(&part.ids);

    /* Closing with batches still queued (and the thread blocked) returns. */
    const char *src[] = {path};
    mlsae_loader_config cfg = {.sources = src, .n_sources = 1, .tok = tok,
                               .seq = {.max_length = L, .batch_size = 1, .group_size = GROUP},
                               .queue_depth = 1};
    mlsae_loader *ld;
    CHECK(mlsae_loader_open(&cfg, &ld, &err) == 0);
    mlsae_batch batch;
    CHECK(mlsae_loader_next(ld, &batch, &err) == 1);
    mlsae_loader_close(ld);

    mlsae_ids_free(&want);
    mlsae_ids_free(&sync.ids);
    mlsae_tokenizer_free(tok);
    return tu_finish("test_dataset_loader");
}
