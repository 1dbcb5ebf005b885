/* torch.save zip archives through libzip; see torch_archive.h. */
#include "config.h"
#include "core/torch_archive.h"
#include "core/torch_pickle.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

/* data.pkl of a state dict is a few hundred bytes per tensor. */
#define PICKLE_MAX ((zip_uint64_t)256 << 20)

typedef struct storage {
    char key[MLSAE_TORCH_KEY_MAX + 1];
    mlsae_dtype dtype;
    int64_t numel;
    unsigned char *data;
    size_t nbytes;
} storage;

struct mlsae_torch_archive {
    char *path;
    mlsae_st_tensor *tensors;
    size_t n_tensors;
    storage *storages;
    size_t n_storages;
};

static const unsigned char zip_magic[4] = {'P', 'K', 3, 4};
/* torch < 1.6: pickle protocol 2, then LONG1 of the magic number 0x1950a86a20f9469cfc6c. */
static const unsigned char legacy_magic[4] = {0x80, 0x02, 0x8a, 0x0a};

static int read_head(const char *path, unsigned char head[4])
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return -1;
    size_t n = fread(head, 1, 4, fp);
    fclose(fp);
    return n == 4 ? 0 : -1;
}

int mlsae_torch_sniff(const char *path)
{
    unsigned char h[4];
    if (read_head(path, h)) return 0;
    return memcmp(h, zip_magic, 4) == 0 || memcmp(h, legacy_magic, 4) == 0;
}

static int zip_fail(mlsae_error *err, const char *path, const char *what, zip_error_t *ze)
{
    return mlsae_fail(err, "%s: %s: %s", path, what, zip_error_strerror(ze));
}

/* Read entry `idx` whole into a malloc'd buffer of exactly `size` bytes. */
static int read_entry(zip_t *z, zip_uint64_t idx, const char *path, const char *name,
                      unsigned char **out, size_t size, mlsae_error *err)
{
    *out = NULL;
    unsigned char *buf = malloc(size ? size : 1);
    if (!buf) return mlsae_fail(err, "%s: %s: cannot allocate %zu bytes", path, name, size);
    zip_file_t *f = zip_fopen_index(z, idx, 0);
    if (!f) {
        free(buf);
        return zip_fail(err, path, name, zip_get_error(z));
    }
    size_t got = 0;
    while (got < size) {
        zip_int64_t r = zip_fread(f, buf + got, size - got);
        if (r < 0) {
            mlsae_fail(err, "%s: %s: %s", path, name, zip_file_strerror(f));
            zip_fclose(f);
            free(buf);
            return -1;
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    /* One more read reaches the end of the entry, where libzip checks the CRC. */
    unsigned char extra;
    zip_int64_t tail = got == size ? zip_fread(f, &extra, 1) : 0;
    if (tail < 0) {
        mlsae_fail(err, "%s: %s: %s", path, name, zip_file_strerror(f));
        zip_fclose(f);
        free(buf);
        return -1;
    }
    zip_fclose(f);
    if (got != size || tail != 0) {
        free(buf);
        return mlsae_fail(err, "%s: %s: entry is %s than its stated size %zu", path, name,
                          got != size ? "shorter" : "longer", size);
    }
    *out = buf;
    return 0;
}

/* The index and size of "<prefix>/<rel>"; -1 with err when absent or compressed. */
static int find_entry(zip_t *z, const char *path, const char *prefix, const char *rel,
                      zip_uint64_t *idx, zip_uint64_t *size, int required, mlsae_error *err)
{
    char name[512];
    if (snprintf(name, sizeof name, "%s/%s", prefix, rel) >= (int)sizeof name)
        return mlsae_fail(err, "%s: entry name too long", path);
    zip_int64_t i = zip_name_locate(z, name, 0);
    if (i < 0) return required ? mlsae_fail(err, "%s: archive has no entry '%s'", path, name) : 1;
    zip_stat_t sb;
    zip_stat_init(&sb);
    if (zip_stat_index(z, (zip_uint64_t)i, 0, &sb) != 0)
        return zip_fail(err, path, name, zip_get_error(z));
    if (!(sb.valid & ZIP_STAT_SIZE) || !(sb.valid & ZIP_STAT_COMP_METHOD))
        return mlsae_fail(err, "%s: entry '%s' has no size or method", path, name);
    if (sb.comp_method != ZIP_CM_STORE)
        return mlsae_fail(err, "%s: entry '%s' is compressed; torch.save archives store their "
                          "entries uncompressed", path, name);
    *idx = (zip_uint64_t)i;
    *size = sb.size;
    return 0;
}

/* The folder holding data.pkl: the single top-level "<prefix>/data.pkl". */
static int find_prefix(zip_t *z, const char *path, char *prefix, size_t n, mlsae_error *err)
{
    zip_int64_t count = zip_get_num_entries(z, 0);
    int found = 0;
    for (zip_int64_t i = 0; i < count; i++) {
        const char *name = zip_get_name(z, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
        if (!name) continue;
        const char *slash = strchr(name, '/');
        if (!slash || strcmp(slash, "/data.pkl") != 0) continue;
        size_t len = (size_t)(slash - name);
        if (found) return mlsae_fail(err, "%s: archive holds more than one data.pkl", path);
        if (len == 0 || len >= n) return mlsae_fail(err, "%s: bad archive folder name", path);
        memcpy(prefix, name, len);
        prefix[len] = '\0';
        found = 1;
    }
    if (!found)
        return mlsae_fail(err, "%s: zip archive without <name>/data.pkl: not a torch.save file", path);
    return 0;
}

static storage *find_storage(mlsae_torch_archive *a, const char *key)
{
    for (size_t i = 0; i < a->n_storages; i++)
        if (strcmp(a->storages[i].key, key) == 0) return &a->storages[i];
    return NULL;
}

static int load(mlsae_torch_archive *a, zip_t *z, mlsae_error *err)
{
    const char *path = a->path;
    char prefix[256];
    if (find_prefix(z, path, prefix, sizeof prefix, err)) return -1;

    zip_uint64_t idx, size;
    int r = find_entry(z, path, prefix, "byteorder", &idx, &size, 0, err);
    if (r < 0) return -1;
    if (r == 0) {
        unsigned char *bo;
        if (size > 16) return mlsae_fail(err, "%s: byteorder entry too long", path);
        if (read_entry(z, idx, path, "byteorder", &bo, (size_t)size, err)) return -1;
        int little = size == 6 && memcmp(bo, "little", 6) == 0;
        free(bo);
        if (!little) return mlsae_fail(err, "%s: big-endian archive refused (byteorder is not 'little')", path);
    }

    if (find_entry(z, path, prefix, "data.pkl", &idx, &size, 1, err)) return -1;
    if (size > PICKLE_MAX) return mlsae_fail(err, "%s: data.pkl is %llu bytes, over the limit",
                                             path, (unsigned long long)size);
    unsigned char *pkl;
    if (read_entry(z, idx, path, "data.pkl", &pkl, (size_t)size, err)) return -1;
    char what[4200];
    snprintf(what, sizeof what, "%s: data.pkl", path);
    mlsae_torch_record *recs = NULL;
    size_t n_recs = 0;
    int rc = mlsae_torch_unpickle(pkl, (size_t)size, what, &recs, &n_recs, err);
    free(pkl);
    if (rc) return -1;

    a->tensors = calloc(n_recs ? n_recs : 1, sizeof *a->tensors);
    a->storages = calloc(n_recs ? n_recs : 1, sizeof *a->storages);
    if (!a->tensors || !a->storages) rc = mlsae_fail(err, "%s: out of memory", path);
    for (size_t i = 0; rc == 0 && i < n_recs; i++) {
        const mlsae_torch_record *rec = &recs[i];
        size_t es = mlsae_dtype_size(rec->dtype);
        storage *s = find_storage(a, rec->storage_key);
        if (!s) {
            char rel[MLSAE_TORCH_KEY_MAX + 8];
            snprintf(rel, sizeof rel, "data/%s", rec->storage_key);
            if (find_entry(z, path, prefix, rel, &idx, &size, 1, err)) {
                rc = -1;
                break;
            }
            if ((uint64_t)rec->storage_numel > SIZE_MAX / es ||
                size != (zip_uint64_t)rec->storage_numel * es) {
                rc = mlsae_fail(err, "%s: storage '%s' holds %llu bytes but the pickle says %lld "
                                "elements of %s", path, rec->storage_key,
                                (unsigned long long)size, (long long)rec->storage_numel,
                                mlsae_dtype_name(rec->dtype));
                break;
            }
            s = &a->storages[a->n_storages];
            memcpy(s->key, rec->storage_key, sizeof s->key);
            s->dtype = rec->dtype;
            s->numel = rec->storage_numel;
            if (read_entry(z, idx, path, rel, &s->data, (size_t)size, err)) {
                rc = -1;
                break;
            }
            s->nbytes = (size_t)size;
            a->n_storages++;
        } else if (s->dtype != rec->dtype || s->numel != rec->storage_numel) {
            /* The same storage seen before with another dtype or length. */
            rc = mlsae_fail(err, "%s: storage '%s' is used with two different types or sizes",
                            path, rec->storage_key);
            break;
        }
        /* torch_pickle checked offset + numel <= storage_numel. */
        mlsae_st_tensor *t = &a->tensors[a->n_tensors];
        t->name = rec->name;
        t->dtype = rec->dtype;
        t->ndim = rec->ndim;
        memcpy(t->shape, rec->shape, sizeof t->shape);
        t->numel = rec->numel;
        t->nbytes = (size_t)rec->numel * es;
        t->data = rec->numel ? s->data + (size_t)rec->storage_offset * es : s->data;
        t->file = a->path;
        a->n_tensors++;
    }
    /* Names now belong to the tensors. */
    for (size_t i = 0; i < a->n_tensors; i++) recs[i].name = NULL;
    mlsae_torch_records_free(recs, n_recs);
    return rc;
}

int mlsae_torch_open(const char *path, mlsae_torch_archive **out, mlsae_error *err)
{
    *out = NULL;
    unsigned char h[4];
    if (read_head(path, h))
        return mlsae_fail(err, "%s: cannot read (missing, or shorter than 4 bytes)", path);
    if (memcmp(h, legacy_magic, 4) == 0)
        return mlsae_fail(err, "%s: legacy (torch < 1.6, non-zip) torch.save format refused: "
                          "re-save it with a current torch or convert it to safetensors", path);
    if (memcmp(h, zip_magic, 4) != 0)
        return mlsae_fail(err, "%s: not a torch.save zip archive (no zip signature)", path);
    int zerr = 0;
    zip_t *z = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
    if (!z) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        zip_fail(err, path, "not a readable zip archive (truncated?)", &ze);
        zip_error_fini(&ze);
        return -1;
    }
    mlsae_torch_archive *a = calloc(1, sizeof *a);
    int rc = a && (a->path = strdup(path)) ? load(a, z, err) : mlsae_fail(err, "out of memory");
    zip_discard(z);
    if (rc) {
        mlsae_torch_close(a);
        return -1;
    }
    *out = a;
    return 0;
}

void mlsae_torch_close(mlsae_torch_archive *a)
{
    if (!a) return;
    for (size_t i = 0; i < a->n_tensors; i++) free((char *)a->tensors[i].name);
    for (size_t i = 0; i < a->n_storages; i++) free(a->storages[i].data);
    free(a->tensors);
    free(a->storages);
    free(a->path);
    free(a);
}

size_t mlsae_torch_count(const mlsae_torch_archive *a) { return a->n_tensors; }

const mlsae_st_tensor *mlsae_torch_at(const mlsae_torch_archive *a, size_t i)
{
    return i < a->n_tensors ? &a->tensors[i] : NULL;
}
