/* Sequence building (see sequences.h). */
#include "config.h"
#include "dataset/sequences.h"

#include <stdlib.h>
#include <string.h>

struct mlsae_seq_builder {
    mlsae_dataset *ds;
    const mlsae_tokenizer *tok;
    mlsae_seq_config cfg;
    int32_t eos;
    /* the current group */
    uint64_t group_doc;     /* index of its first document */
    uint64_t n_docs;        /* documents in it */
    mlsae_ids tokens;       /* its ids: eos doc1 eos doc2 ... */
    uint64_t n_seq, seq;    /* sequences it yields, next one to deliver */
    int loaded, ended;
    /* scratch for reading a group */
    char **texts;
    size_t *lens, *caps;
    mlsae_ids *doc_ids;
    uint64_t batches, delivered_tokens;
    atomic_int *cancel;
};

static int cancelled(const mlsae_seq_builder *b)
{
    return b->cancel && atomic_load(b->cancel);
}

/* Read the next group and tokenize it. 1, 0 (no document left), -1. */
static int load_group(mlsae_seq_builder *b, mlsae_error *err)
{
    size_t g = b->cfg.group_size, n = 0;
    uint64_t first = mlsae_dataset_position(b->ds);
    while (n < g) {
        mlsae_doc doc;
        if (cancelled(b)) return mlsae_fail(err, "cancelled");
        int r = mlsae_dataset_next(b->ds, &doc, err);
        if (r < 0) return -1;
        if (r == 0) break;
        if (doc.len + 1 > b->caps[n]) {
            char *t = realloc(b->texts[n], doc.len + 1);
            if (!t) return mlsae_fail(err, "out of memory for document %llu", (unsigned long long)doc.index);
            b->texts[n] = t;
            b->caps[n] = doc.len + 1;
        }
        memcpy(b->texts[n], doc.text, doc.len);
        b->lens[n] = doc.len;
        n++;
    }
    if (n == 0) return 0;
    if (cancelled(b)) return mlsae_fail(err, "cancelled");
    for (size_t i = 0; i < n; i++) b->doc_ids[i].len = 0;
    if (mlsae_tokenizer_encode_batch(b->tok, n, (const char *const *)b->texts, b->lens, b->doc_ids,
                                     b->cfg.n_threads, err) != 0)
        return -1;
    b->tokens.len = 0;
    for (size_t i = 0; i < n; i++) {
        if (mlsae_ids_reserve(&b->tokens, b->doc_ids[i].len + 1) != 0)
            return mlsae_fail(err, "out of memory for the tokens of a group");
        b->tokens.data[b->tokens.len++] = b->eos;
        if (b->doc_ids[i].len) /* an empty document has no ids (and maybe no buffer) */
            memcpy(b->tokens.data + b->tokens.len, b->doc_ids[i].data,
                   b->doc_ids[i].len * sizeof(int32_t));
        b->tokens.len += b->doc_ids[i].len;
    }
    size_t L = b->cfg.max_length;
    b->group_doc = first;
    b->n_docs = n;
    b->n_seq = (b->tokens.len + L - 1) / L - 1; /* the last piece is always dropped */
    b->seq = 0;
    b->loaded = 1;
    return 1;
}

int mlsae_seq_builder_open(mlsae_dataset *ds, const mlsae_tokenizer *tok,
                           const mlsae_seq_config *cfg, const mlsae_data_position *start,
                           mlsae_seq_builder **out, mlsae_error *err)
{
    *out = NULL;
    mlsae_seq_builder *b = calloc(1, sizeof *b);
    if (!b) {
        mlsae_dataset_close(ds);
        return mlsae_fail(err, "out of memory");
    }
    b->ds = ds;
    b->tok = tok;
    b->cfg = *cfg;
    if (!b->cfg.group_size) b->cfg.group_size = MLSAE_DEFAULT_GROUP_SIZE;
    b->eos = mlsae_tokenizer_eos_id(tok);
    if (b->cfg.max_length == 0 || b->cfg.batch_size == 0) {
        mlsae_seq_builder_close(b);
        return mlsae_fail(err, "max_length and batch_size must be positive");
    }
    if (b->eos < 0) {
        mlsae_seq_builder_close(b);
        return mlsae_fail(err, "the tokenizer has no <|endoftext|> token to join documents with");
    }
    size_t g = b->cfg.group_size;
    b->texts = calloc(g, sizeof *b->texts);
    b->lens = calloc(g, sizeof *b->lens);
    b->caps = calloc(g, sizeof *b->caps);
    b->doc_ids = calloc(g, sizeof *b->doc_ids);
    if (!b->texts || !b->lens || !b->caps || !b->doc_ids) {
        mlsae_seq_builder_close(b);
        return mlsae_fail(err, "out of memory");
    }
    if (start) {
        if (start->group_seq > 0 && start->group_doc % g != 0) {
            mlsae_seq_builder_close(b);
            return mlsae_fail(err, "data position: document %llu does not start a group of %zu",
                              (unsigned long long)start->group_doc, g);
        }
        if (mlsae_dataset_skip(ds, start->group_doc, err) != 0) {
            mlsae_error_prefix(err, "data position");
            mlsae_seq_builder_close(b);
            return -1;
        }
        if (start->group_seq > 0) {
            int r = load_group(b, err);
            if (r <= 0 || start->group_seq > b->n_seq) {
                if (r >= 0)
                    mlsae_fail(err, "data position: sequence %llu of the group at document %llu "
                                    "does not exist in this data",
                               (unsigned long long)start->group_seq,
                               (unsigned long long)start->group_doc);
                mlsae_seq_builder_close(b);
                return -1;
            }
            b->seq = start->group_seq;
        }
        b->batches = start->batches;
        b->delivered_tokens = start->tokens;
    }
    *out = b;
    return 0;
}

int mlsae_seq_builder_next_batch(mlsae_seq_builder *b, int32_t *ids, size_t *rows,
                                 mlsae_error *err)
{
    size_t L = b->cfg.max_length, n = 0;
    *rows = 0;
    while (n < b->cfg.batch_size && !b->ended) {
        if (!b->loaded || b->seq >= b->n_seq) {
            int r = load_group(b, err);
            if (r < 0) return -1;
            if (r == 0) {
                b->ended = 1;
                b->loaded = 0;
                break;
            }
            continue;
        }
        memcpy(ids + n * L, b->tokens.data + b->seq * L, L * sizeof(int32_t));
        b->seq++;
        n++;
    }
    if (n == 0) return 0;
    *rows = n;
    b->batches++;
    b->delivered_tokens += (uint64_t)n * L;
    return 1;
}

void mlsae_seq_builder_position(const mlsae_seq_builder *b, mlsae_data_position *pos)
{
    if (b->loaded && b->seq < b->n_seq) {
        pos->group_doc = b->group_doc;
        pos->group_seq = b->seq;
    } else {
        /* the current group is used up: the next one starts after it */
        pos->group_doc = mlsae_dataset_position(b->ds);
        pos->group_seq = 0;
    }
    pos->batches = b->batches;
    pos->tokens = b->delivered_tokens;
}

uint64_t mlsae_seq_builder_text_bytes(const mlsae_seq_builder *b)
{
    return mlsae_dataset_text_bytes(b->ds);
}

void mlsae_seq_builder_set_cancel(mlsae_seq_builder *b, atomic_int *flag)
{
    b->cancel = flag;
}

void mlsae_seq_builder_close(mlsae_seq_builder *b)
{
    if (!b) return;
    mlsae_dataset_close(b->ds);
    for (size_t i = 0; b->texts && i < b->cfg.group_size; i++) free(b->texts[i]);
    for (size_t i = 0; b->doc_ids && i < b->cfg.group_size; i++) mlsae_ids_free(&b->doc_ids[i]);
    free(b->texts);
    free(b->lens);
    free(b->caps);
    free(b->doc_ids);
    mlsae_ids_free(&b->tokens);
    free(b);
}
