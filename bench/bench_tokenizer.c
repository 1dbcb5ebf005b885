/* Tokenizer and dataset reading throughput (no assertions: figures only).
 *
 * Usage: bench_tokenizer TOKENIZER.json CORPUS.jsonl[.zst]...
 * Prints, over the documents of all corpora (MB = 1e6 bytes of UTF-8 text):
 *   read    decompress + parse JSON Lines only (MB/s of decoded text)
 *   encode  1 thread: mlsae_tokenizer_encode document by document
 *   encode  N threads: mlsae_tokenizer_encode_batch over all documents
 * Each figure is the best of 3 passes. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dataset/dataset.h"
#include "tokenizer/tokenizer.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s TOKENIZER.json CORPUS...\n", argv[0]);
        return 2;
    }
    mlsae_error err;
    const char *const *src = (const char *const *)argv + 2;
    size_t n_src = (size_t)argc - 2;

    /* Reading. */
    double best_read = 1e30;
    size_t n_docs = 0, cap = 0, total = 0;
    char **texts = NULL;
    size_t *lens = NULL;
    for (int pass = 0; pass < 3; pass++) {
        mlsae_dataset *ds;
        if (mlsae_dataset_open(src, n_src, &ds, &err) != 0) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        double t0 = now();
        mlsae_doc doc;
        int r;
        while ((r = mlsae_dataset_next(ds, &doc, &err)) == 1) {
            if (pass == 0) {
                if (n_docs == cap) {
                    cap = cap ? 2 * cap : 256;
                    texts = realloc(texts, cap * sizeof *texts);
                    lens = realloc(lens, cap * sizeof *lens);
                }
                texts[n_docs] = malloc(doc.len + 1);
                memcpy(texts[n_docs], doc.text, doc.len);
                lens[n_docs++] = doc.len;
                total += doc.len;
            }
        }
        double t = now() - t0;
        if (r < 0) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        if (t < best_read) best_read = t;
        mlsae_dataset_close(ds);
    }
    mlsae_tokenizer *tok;
    if (mlsae_tokenizer_load(argv[1], &tok, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double mb = (double)total / 1e6;
    printf("corpus: %zu documents, %.2f MB of text\n", n_docs, mb);
    printf("%-34s %8.1f MB/s\n", "mlsae read jsonl(.zst)", mb / best_read);

    /* Encoding, one thread. */
    mlsae_ids *outs = calloc(n_docs, sizeof *outs);
    size_t n_tokens = 0;
    double best1 = 1e30;
    for (int pass = 0; pass < 3; pass++) {
        double t0 = now();
        n_tokens = 0;
        for (size_t i = 0; i < n_docs; i++) {
            outs[i].len = 0;
            mlsae_tokenizer_encode(tok, texts[i], lens[i], &outs[i], &err);
            n_tokens += outs[i].len;
        }
        double t = now() - t0;
        if (t < best1) best1 = t;
    }
    printf("%-34s %8.1f MB/s  (%zu tokens, %.2f Mtok/s)\n", "mlsae encode, 1 thread", mb / best1,
           n_tokens, (double)n_tokens / best1 / 1e6);

    /* Encoding, all threads. */
    int threads = mlsae_default_threads();
    double bestn = 1e30;
    for (int pass = 0; pass < 3; pass++) {
        for (size_t i = 0; i < n_docs; i++) outs[i].len = 0;
        double t0 = now();
        mlsae_tokenizer_encode_batch(tok, n_docs, (const char *const *)texts, lens, outs, 0, &err);
        double t = now() - t0;
        if (t < bestn) bestn = t;
    }
    char label[64];
    snprintf(label, sizeof label, "mlsae encode, %d threads", threads);
    printf("%-34s %8.1f MB/s\n", label, mb / bestn);

    for (size_t i = 0; i < n_docs; i++) {
        mlsae_ids_free(&outs[i]);
        free(texts[i]);
    }
    free(outs);
    free(texts);
    free(lens);
    mlsae_tokenizer_free(tok);
    return 0;
}
