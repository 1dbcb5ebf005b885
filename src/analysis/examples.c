#include "config.h"
#include "analysis/examples.h"

#include <stdlib.h>
#include <string.h>

int mlsae_examples_init(mlsae_examples *ex, int n_latents, int n_layers, int n_examples,
                        int n_tokens, mlsae_error *err)
{
    memset(ex, 0, sizeof *ex);
    size_t slots = (size_t)n_latents * n_layers;
    ex->heaps = calloc(slots, sizeof *ex->heaps);
    ex->sizes = calloc(slots, sizeof *ex->sizes);
    if (!ex->heaps || !ex->sizes) {
        mlsae_examples_free(ex);
        return mlsae_fail(err, "out of memory for %zu example heaps", slots);
    }
    ex->n_latents = n_latents;
    ex->n_layers = n_layers;
    ex->n_examples = n_examples;
    ex->n_tokens = n_tokens;
    ex->stride = sizeof(mlsae_example) + (size_t)2 * n_tokens * (sizeof(int32_t) + sizeof(float));
    ex->stride = (ex->stride + 7) & ~(size_t)7;
    return 0;
}

void mlsae_examples_free(mlsae_examples *ex)
{
    if (ex->heaps)
        for (size_t i = 0; i < (size_t)ex->n_latents * ex->n_layers; i++) free(ex->heaps[i]);
    free(ex->heaps);
    free(ex->sizes);
    memset(ex, 0, sizeof *ex);
}

#define ENTRY(h, i, stride) ((mlsae_example *)((h) + (size_t)(i) * (stride)))

/* a ranks below b: lower act, or equal act and later arrival */
static int below(const mlsae_example *a, const mlsae_example *b)
{
    return a->act < b->act || (a->act == b->act && a->order > b->order);
}

static void swap(unsigned char *h, size_t stride, int i, int j, unsigned char *tmp)
{
    memcpy(tmp, h + (size_t)i * stride, stride);
    memcpy(h + (size_t)i * stride, h + (size_t)j * stride, stride);
    memcpy(h + (size_t)j * stride, tmp, stride);
}

static void sift_down(unsigned char *h, size_t stride, int n, int i, unsigned char *tmp)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && below(ENTRY(h, l, stride), ENTRY(h, m, stride))) m = l;
        if (r < n && below(ENTRY(h, r, stride), ENTRY(h, m, stride))) m = r;
        if (m == i) return;
        swap(h, stride, i, m, tmp);
        i = m;
    }
}

static void sift_up(unsigned char *h, size_t stride, int i, unsigned char *tmp)
{
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!below(ENTRY(h, i, stride), ENTRY(h, p, stride))) return;
        swap(h, stride, i, p, tmp);
        i = p;
    }
}

/* Latent j's value at one row's TopK (0 when absent). */
static float value_of(const float *values, const int32_t *indices, size_t row, int k, int32_t j)
{
    float v = 0;
    for (int t = 0; t < k; t++)
        if (indices[row * k + t] == j) v += values[row * k + t];
    return v;
}

/* Offer one candidate (ex->stride bytes) to its slot's heap: it enters
 * when the heap has room or the heap's lowest entry ranks below it. */
static int offer(mlsae_examples *ex, size_t slot, const unsigned char *cand, unsigned char *tmp,
                 mlsae_error *err)
{
    int n = ex->sizes[slot];
    unsigned char *h = ex->heaps[slot];
    if (n == ex->n_examples) {
        if (!below(ENTRY(h, 0, ex->stride), (const mlsae_example *)cand)) return 0;
        memcpy(h, cand, ex->stride);
        sift_down(h, ex->stride, n, 0, tmp);
        return 0;
    }
    if (!h) {
        h = ex->heaps[slot] = malloc((size_t)ex->n_examples * ex->stride);
        if (!h) return mlsae_fail(err, "out of memory for examples");
    }
    memcpy(h + (size_t)n * ex->stride, cand, ex->stride);
    ex->sizes[slot] = n + 1;
    sift_up(h, ex->stride, n, tmp);
    return 0;
}

int mlsae_examples_update(mlsae_examples *ex, const int32_t *ids, int rows, int seq,
                          const float *values, const int32_t *indices, int k,
                          int n_tokens_valid, uint64_t first_order, mlsae_error *err)
{
    const int nt = ex->n_tokens;
    const size_t rpl = (size_t)rows * seq;
    unsigned char tmp[4096], cand[4096];
    if (ex->stride > sizeof tmp) return mlsae_fail(err, "examples: n_tokens %d too large", nt);
    for (int l = 0; l < ex->n_layers; l++) {
        for (size_t r = 0; r < (size_t)n_tokens_valid; r++) {
            size_t row = l * rpl + r;
            for (int t = 0; t < k; t++) {
                float v = values[row * k + t];
                int32_t j = indices[row * k + t];
                if (!(v > MLSAE_EXAMPLES_THRESHOLD)) continue;
                if (j < 0 || j >= ex->n_latents)
                    return mlsae_fail(err, "examples: latent index %d outside 0..%d", j,
                                      ex->n_latents - 1);
                size_t slot = (size_t)j * ex->n_layers + l;
                uint64_t order = first_order + r;
                if (ex->sizes[slot] == ex->n_examples) {
                    /* below(min, candidate), before building the candidate */
                    const mlsae_example *min = ENTRY(ex->heaps[slot], 0, ex->stride);
                    if (!(v > min->act || (v == min->act && order < min->order))) continue;
                }
                /* build the candidate: window clipped to the sequence */
                mlsae_example *e = (mlsae_example *)cand;
                memset(cand, 0, ex->stride);
                int pos = (int)(r % (size_t)seq);
                size_t seq_start = r - (size_t)pos;
                int lo = pos - nt < 0 ? 0 : pos - nt, hi = pos + nt > seq ? seq : pos + nt;
                e->act = v;
                e->token_id = ids[r];
                e->order = order;
                e->n_ctx = hi - lo;
                e->self = pos - lo;
                int32_t *cids = (int32_t *)(e + 1);
                float *cacts = (float *)(cids + 2 * nt);
                for (int p = lo; p < hi; p++) {
                    cids[p - lo] = ids[seq_start + p];
                    cacts[p - lo] = value_of(values, indices, l * rpl + seq_start + p, k, j);
                }
                if (offer(ex, slot, cand, tmp, err)) return -1;
            }
        }
    }
    return 0;
}

size_t mlsae_examples_packed_size(const mlsae_examples *ex, size_t slot0, size_t slot1)
{
    size_t bytes = 0;
    for (size_t slot = slot0; slot < slot1; slot++)
        bytes += sizeof(int32_t) + (size_t)ex->sizes[slot] * ex->stride;
    return bytes;
}

void mlsae_examples_pack(const mlsae_examples *ex, size_t slot0, size_t slot1, unsigned char *buf)
{
    for (size_t slot = slot0; slot < slot1; slot++) {
        int32_t n = ex->sizes[slot];
        memcpy(buf, &n, sizeof n);
        buf += sizeof n;
        if (n == 0) continue;
        memcpy(buf, ex->heaps[slot], (size_t)n * ex->stride);
        buf += (size_t)n * ex->stride;
    }
}

int mlsae_examples_merge_packed(mlsae_examples *ex, size_t slot0, size_t slot1,
                                const unsigned char *buf, size_t bytes, mlsae_error *err)
{
    unsigned char tmp[4096];
    const unsigned char *end = buf + bytes;
    if (ex->stride > sizeof tmp) return mlsae_fail(err, "examples: n_tokens too large");
    for (size_t slot = slot0; slot < slot1; slot++) {
        int32_t n;
        if ((size_t)(end - buf) < sizeof n)
            return mlsae_fail(err, "examples: packed heaps end at slot %zu of %zu..%zu", slot,
                              slot0, slot1);
        memcpy(&n, buf, sizeof n);
        buf += sizeof n;
        if (n < 0 || n > ex->n_examples || (size_t)(end - buf) < (size_t)n * ex->stride)
            return mlsae_fail(err, "examples: packed heap of slot %zu holds %d entries", slot, n);
        for (int32_t i = 0; i < n; i++, buf += ex->stride) {
            /* copied out: the packed bytes need not be aligned */
            unsigned char cand[4096];
            memcpy(cand, buf, ex->stride);
            if (offer(ex, slot, cand, tmp, err)) return -1;
        }
    }
    if (buf != end)
        return mlsae_fail(err, "examples: %zu bytes after the packed heaps",
                          (size_t)(end - buf));
    return 0;
}

int mlsae_examples_sorted(mlsae_examples *ex, int latent, int layer, unsigned char **out)
{
    size_t slot = (size_t)latent * ex->n_layers + layer;
    int n = ex->sizes[slot];
    *out = ex->heaps[slot];
    if (n > 1) {
        /* heap sort in place: pop the minimum to the end, leaving descending order */
        unsigned char tmp[4096];
        for (int m = n - 1; m > 0; m--) {
            swap(*out, ex->stride, 0, m, tmp);
            sift_down(*out, ex->stride, m, 0, tmp);
        }
    }
    return n;
}
