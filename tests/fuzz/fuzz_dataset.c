/* Dataset readers: the first byte picks .jsonl, .jsonl.zst (the rest is the
 * compressed stream) or .txt; every document is read to the end. */
#include "config.h"
#include "fuzz_util.h"
#include "dataset/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static const char *names[3] = {"d.jsonl", "d.jsonl.zst", "d.txt"};
    const char *p = fuzz_write(names[data[0] % 3], data + 1, size - 1);
    const char *src[1] = {p};
    mlsae_dataset *ds;
    mlsae_error err;
    if (mlsae_dataset_open(src, 1, &ds, &err)) return 0;
    mlsae_doc doc;
    int r;
    volatile size_t total = 0;
    while ((r = mlsae_dataset_next(ds, &doc, &err)) == 1) {
        for (size_t i = 0; i < doc.len; i++) total += (unsigned char)doc.text[i];
    }
    (void)total; /* every byte of every document was read */
    mlsae_dataset_close(ds);
    unlink(p);
    return 0;
}
