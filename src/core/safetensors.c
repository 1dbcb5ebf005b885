#include "config.h"
#include "core/safetensors.h"
#include "core/paths.h"
#include "core/atomic_file.h"
#include "core/checked_size.h"
#include "core/input_file.h"
#include "core/fp16.h"
#include "core/torch_archive.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- dtypes ------------------------------------------------------------- */

static const struct { const char *name; size_t size; } dtype_info[] = {
    [MLSAE_DT_F32] = {"F32", 4},  [MLSAE_DT_F16] = {"F16", 2},
    [MLSAE_DT_BF16] = {"BF16", 2}, [MLSAE_DT_F64] = {"F64", 8},
    [MLSAE_DT_I64] = {"I64", 8},  [MLSAE_DT_I32] = {"I32", 4},
    [MLSAE_DT_I16] = {"I16", 2},  [MLSAE_DT_I8] = {"I8", 1},
    [MLSAE_DT_U8] = {"U8", 1},    [MLSAE_DT_BOOL] = {"BOOL", 1},
};
#define N_DTYPES (sizeof dtype_info / sizeof dtype_info[0])

const char *mlsae_dtype_name(mlsae_dtype dt) { return dtype_info[dt].name; }
size_t mlsae_dtype_size(mlsae_dtype dt) { return dtype_info[dt].size; }

static int dtype_parse(const char *s, mlsae_dtype *out)
{
    for (size_t i = 0; i < N_DTYPES; i++)
        if (strcmp(s, dtype_info[i].name) == 0) {
            *out = (mlsae_dtype)i;
            return 0;
        }
    return -1;
}

/* ---- reading ------------------------------------------------------------ */

typedef struct st_file {
    char *path;
    void *map;
    size_t size;
    mlsae_torch_archive *torch; /* a torch.save archive instead of a mapping */
} st_file;

struct mlsae_safetensors {
    char *path;
    st_file *files;
    size_t n_files;
    mlsae_st_tensor *tensors;
    size_t n_tensors;
    json_t *metadata; /* object or NULL */
};

typedef struct { uint64_t begin, end; size_t idx; } range;

/* By begin, then end (empty tensors first at a shared offset). */
static int range_cmp(const void *a, const void *b)
{
    const range *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end ? 1 : 0;
}

static int shape_numel(const int64_t *shape, int ndim, int64_t *numel)
{
    return mlsae_numel_i64(shape, ndim, numel);
}

/* The largest header the safetensors reference accepts (100 MB). */
#define ST_MAX_HEADER ((uint64_t)100000000)

/* A new, empty entry for path at the end of st->files; NULL with err set. */
static st_file *add_file(mlsae_safetensors *st, const char *path, mlsae_error *err)
{
    st_file *nf = realloc(st->files, (st->n_files + 1) * sizeof *nf);
    if (!nf) {
        mlsae_fail(err, "%s: out of memory", path);
        return NULL;
    }
    st->files = nf;
    st_file *f = &st->files[st->n_files];
    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    if (!f->path) {
        mlsae_fail(err, "%s: out of memory", path);
        return NULL;
    }
    st->n_files++;
    return f;
}

/* Map one file and append its tensors. */
static int load_file(mlsae_safetensors *st, const char *path, mlsae_error *err)
{
    st_file *f = add_file(st, path, err);
    if (!f) return -1;

    int fd = mlsae_open_input(path, 0, err);
    if (fd < 0) return -1;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        close(fd);
        return mlsae_fail_errno(err, "%s: cannot stat", path);
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return mlsae_fail(err, "%s: not a regular file", path);
    }
    f->size = (size_t)sb.st_size;
    if (f->size < 8) {
        close(fd);
        return mlsae_fail(err, "%s: truncated safetensors file (%zu bytes, no header length)",
                          path, f->size);
    }
    f->map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        return mlsae_fail_errno(err, "%s: cannot mmap", path);
    }
    const unsigned char *p = f->map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | p[i];
    if (hlen > f->size - 8)
        return mlsae_fail(err, "%s: header length %llu runs past the end of the file (%zu bytes)",
                          path, (unsigned long long)hlen, f->size);
    if (hlen == 0) return mlsae_fail(err, "%s: empty safetensors header", path);
    if (hlen > ST_MAX_HEADER)
        return mlsae_fail(err, "%s: header length %llu exceeds the %llu-byte limit", path,
                          (unsigned long long)hlen, (unsigned long long)ST_MAX_HEADER);

    json_error_t jerr;
    json_t *root = json_loadb((const char *)p + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return mlsae_fail(err, "%s: header is not valid JSON (byte %d: %s)", path,
                          jerr.position, jerr.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return mlsae_fail(err, "%s: header is not a JSON object", path);
    }
    const uint64_t data_start = 8 + hlen;
    const uint64_t data_size = f->size - data_start;
    const unsigned char *data = p + data_start;

    size_t n_new = json_object_size(root);
    mlsae_st_tensor *nt = realloc(st->tensors, (st->n_tensors + n_new) * sizeof *nt);
    range *ranges = malloc((n_new ? n_new : 1) * sizeof *ranges);
    if (!nt || !ranges) {
        free(ranges);
        if (nt) st->tensors = nt;
        json_decref(root);
        return mlsae_fail(err, "%s: out of memory", path);
    }
    st->tensors = nt;
    size_t n_ranges = 0;
    const char *key;
    json_t *val;
    int rc = 0;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            if (!json_is_object(val)) {
                rc = mlsae_fail(err, "%s: __metadata__ is not an object", path);
                break;
            }
            if (!st->metadata) st->metadata = json_incref(val);
            continue;
        }
        mlsae_st_tensor *t = &st->tensors[st->n_tensors];
        memset(t, 0, sizeof *t);
        json_t *jd = json_object_get(val, "dtype");
        json_t *js = json_object_get(val, "shape");
        json_t *jo = json_object_get(val, "data_offsets");
        if (!json_is_object(val) || !json_is_string(jd) || !json_is_array(js) ||
            !json_is_array(jo) || json_array_size(jo) != 2) {
            rc = mlsae_fail(err, "%s: tensor '%s': entry needs dtype, shape and data_offsets[2]",
                            path, key);
            break;
        }
        if (dtype_parse(json_string_value(jd), &t->dtype) != 0) {
            rc = mlsae_fail(err, "%s: tensor '%s': unknown dtype '%s'", path, key,
                            json_string_value(jd));
            break;
        }
        if (json_array_size(js) > MLSAE_ST_MAX_DIMS) {
            rc = mlsae_fail(err, "%s: tensor '%s': too many dimensions (%zu)", path, key,
                            json_array_size(js));
            break;
        }
        t->ndim = (int)json_array_size(js);
        int bad = 0;
        for (int d = 0; d < t->ndim; d++) {
            json_t *e = json_array_get(js, (size_t)d);
            if (!json_is_integer(e) || json_integer_value(e) < 0) bad = 1;
            else t->shape[d] = json_integer_value(e);
        }
        if (bad || shape_numel(t->shape, t->ndim, &t->numel) != 0) {
            rc = mlsae_fail(err, "%s: tensor '%s': invalid shape", path, key);
            break;
        }
        json_t *jb = json_array_get(jo, 0), *je = json_array_get(jo, 1);
        if (!json_is_integer(jb) || !json_is_integer(je) || json_integer_value(jb) < 0 ||
            json_integer_value(je) < json_integer_value(jb)) {
            rc = mlsae_fail(err, "%s: tensor '%s': invalid data_offsets", path, key);
            break;
        }
        uint64_t b = (uint64_t)json_integer_value(jb), e = (uint64_t)json_integer_value(je);
        uint64_t want;
        if (mlsae_mul_u64((uint64_t)t->numel, mlsae_dtype_size(t->dtype), &want) ||
            want > SIZE_MAX) {
            rc = mlsae_fail(err, "%s: tensor '%s': shape x %s size overflows", path, key,
                            mlsae_dtype_name(t->dtype));
            break;
        }
        if (e - b != want) {
            rc = mlsae_fail(err, "%s: tensor '%s': data_offsets span %llu bytes but %s%s needs %llu",
                            path, key, (unsigned long long)(e - b), mlsae_dtype_name(t->dtype),
                            "", (unsigned long long)want);
            break;
        }
        if (e > data_size) {
            rc = mlsae_fail(err, "%s: tensor '%s': data_offsets [%llu, %llu] past the end of the "
                            "data (%llu bytes; file truncated?)", path, key,
                            (unsigned long long)b, (unsigned long long)e,
                            (unsigned long long)data_size);
            break;
        }
        const mlsae_st_tensor *dup = mlsae_st_find(st, key);
        if (dup) {
            rc = mlsae_fail(err, "%s: tensor '%s' is also in %s", path, key, dup->file);
            break;
        }
        t->name = strdup(key);
        if (!t->name) {
            rc = mlsae_fail(err, "%s: out of memory", path);
            break;
        }
        t->data = data + b;
        t->nbytes = (size_t)want;
        t->file = f->path;
        ranges[n_ranges].begin = b;
        ranges[n_ranges].end = e;
        ranges[n_ranges].idx = st->n_tensors;
        n_ranges++;
        st->n_tensors++;
    }
    if (rc == 0) {
        /* The tensors tile the data section exactly, as the safetensors
         * reference requires: no overlap, no gap, nothing after the last. */
        qsort(ranges, n_ranges, sizeof *ranges, range_cmp);
        uint64_t at = 0;
        for (size_t i = 0; i < n_ranges && rc == 0; i++) {
            const char *name = st->tensors[ranges[i].idx].name;
            if (ranges[i].begin < at)
                rc = mlsae_fail(err, "%s: tensors '%s' and '%s' overlap in the data section",
                                path, st->tensors[ranges[i - 1].idx].name, name);
            else if (ranges[i].begin > at)
                rc = mlsae_fail(err, "%s: tensor '%s': gap of %llu bytes before its data_offsets "
                                "[%llu, %llu] (the tensors must tile the data section)", path,
                                name, (unsigned long long)(ranges[i].begin - at),
                                (unsigned long long)ranges[i].begin,
                                (unsigned long long)ranges[i].end);
            at = ranges[i].end;
        }
        if (rc == 0 && at != data_size)
            rc = mlsae_fail(err, "%s: %llu bytes after the last tensor's data (the data section "
                            "is %llu bytes, the tensors cover %llu)", path,
                            (unsigned long long)(data_size - at), (unsigned long long)data_size,
                            (unsigned long long)at);
    }
    free(ranges);
    json_decref(root);
    return rc;
}

/* A torch.save archive: its tensors join the list like a safetensors file's. */
static int load_torch(mlsae_safetensors *st, const char *path, mlsae_error *err)
{
    st_file *f = add_file(st, path, err);
    if (!f) return -1;
    if (mlsae_torch_open(path, &f->torch, err)) return -1;
    size_t n_new = mlsae_torch_count(f->torch);
    mlsae_st_tensor *nt = realloc(st->tensors, (st->n_tensors + n_new + 1) * sizeof *nt);
    if (!nt) return mlsae_fail(err, "%s: out of memory", path);
    st->tensors = nt;
    for (size_t i = 0; i < n_new; i++) {
        mlsae_st_tensor *t = &st->tensors[st->n_tensors];
        *t = *mlsae_torch_at(f->torch, i);
        t->file = f->path;
        if (!(t->name = strdup(t->name))) return mlsae_fail(err, "%s: out of memory", path);
        st->n_tensors++;
    }
    return 0;
}

static int ends_with(const char *s, const char *suffix);

/* A weights file by its name (.safetensors) or its first bytes (torch.save). */
static int load_any(mlsae_safetensors *st, const char *path, mlsae_error *err)
{
    if (!ends_with(path, ".safetensors") && mlsae_torch_sniff(path))
        return load_torch(st, path, err);
    return load_file(st, path, err);
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    size_t n = (size_t)(slash - path);
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, path, n);
        s[n] = '\0';
    }
    return s;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Sharded checkpoint: {"weight_map": {"tensor": "file"}} */
static int load_index(mlsae_safetensors *st, const char *index_path, mlsae_error *err)
{
    json_error_t jerr;
    char *text = NULL;
    size_t text_len = 0;
    if (mlsae_read_file(index_path, &text, &text_len, err)) return -1;
    json_t *root = json_loadb(text, text_len, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (!root)
        return mlsae_fail(err, "%s: not valid JSON (line %d: %s)", index_path, jerr.line, jerr.text);
    json_t *map = json_object_get(root, "weight_map");
    if (!json_is_object(map)) {
        json_decref(root);
        return mlsae_fail(err, "%s: missing object field 'weight_map'", index_path);
    }
    char *dir = dir_of(index_path);
    int rc = dir ? 0 : mlsae_fail(err, "out of memory");
    /* Load each distinct shard once, in order of first mention. */
    const char *key;
    json_t *val;
    json_object_foreach(map, key, val) {
        if (rc) break;
        if (!json_is_string(val)) {
            rc = mlsae_fail(err, "%s: weight_map['%s'] is not a file name", index_path, key);
            break;
        }
        const char *shard = json_string_value(val);
        if (strchr(shard, '/') || strcmp(shard, "..") == 0) {
            rc = mlsae_fail(err, "%s: weight_map['%s']: shard '%s' must be a plain file name",
                            index_path, key, shard);
            break;
        }
        char *sp = mlsae_path_join_new(dir, shard);
        if (!sp) {
            rc = mlsae_fail(err, "out of memory");
            break;
        }
        int seen = 0;
        for (size_t i = 0; i < st->n_files; i++)
            if (strcmp(st->files[i].path, sp) == 0) seen = 1;
        if (!seen) rc = load_any(st, sp, err);
        free(sp);
    }
    /* Every mapped tensor must exist in its shard. */
    json_object_foreach(map, key, val) {
        if (rc) break;
        if (!mlsae_st_find(st, key))
            rc = mlsae_fail(err, "%s: tensor '%s' listed in weight_map is missing from %s",
                            index_path, key, json_string_value(val));
    }
    free(dir);
    json_decref(root);
    return rc;
}

int mlsae_st_open(const char *path, mlsae_safetensors **out, mlsae_error *err)
{
    *out = NULL;
    mlsae_safetensors *st = calloc(1, sizeof *st);
    if (!st) return mlsae_fail(err, "out of memory");
    st->path = strdup(path);
    int rc;
    if (mlsae_is_dir(path)) {
        /* safetensors first, as transformers prefers them. */
        static const char *const names[] = {"model.safetensors", "model.safetensors.index.json",
                                            "pytorch_model.bin", "pytorch_model.bin.index.json"};
        rc = 1;
        for (size_t i = 0; rc == 1 && i < sizeof names / sizeof names[0]; i++) {
            char *p = mlsae_path_join_new(path, names[i]);
            if (!p) rc = mlsae_fail(err, "out of memory");
            else if (access(p, F_OK) == 0) /* not a regular file: the loader says so */
                rc = ends_with(p, ".index.json") ? load_index(st, p, err) : load_any(st, p, err);
            free(p);
        }
        if (rc == 1)
            rc = mlsae_fail(err, "%s: no model.safetensors, pytorch_model.bin or their "
                            ".index.json in this directory", path);
    } else if (ends_with(path, ".index.json")) {
        rc = load_index(st, path, err);
    } else {
        rc = load_any(st, path, err);
    }
    if (rc) {
        mlsae_st_close(st);
        return -1;
    }
    *out = st;
    return 0;
}

void mlsae_st_close(mlsae_safetensors *st)
{
    if (!st) return;
    for (size_t i = 0; i < st->n_tensors; i++) free((char *)st->tensors[i].name);
    for (size_t i = 0; i < st->n_files; i++) {
        if (st->files[i].map) munmap(st->files[i].map, st->files[i].size);
        mlsae_torch_close(st->files[i].torch);
        free(st->files[i].path);
    }
    free(st->files);
    free(st->tensors);
    free(st->path);
    if (st->metadata) json_decref(st->metadata);
    free(st);
}

size_t mlsae_st_count(const mlsae_safetensors *st) { return st->n_tensors; }
const mlsae_st_tensor *mlsae_st_at(const mlsae_safetensors *st, size_t i)
{
    return i < st->n_tensors ? &st->tensors[i] : NULL;
}
const char *mlsae_st_path(const mlsae_safetensors *st) { return st->path; }

const mlsae_st_tensor *mlsae_st_find(const mlsae_safetensors *st, const char *name)
{
    for (size_t i = 0; i < st->n_tensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

const char *mlsae_st_metadata(const mlsae_safetensors *st, const char *key)
{
    if (!st->metadata) return NULL;
    return json_string_value(json_object_get(st->metadata, key));
}

static void shape_str(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t used = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (used < n) snprintf(buf + used, n - used, "]");
}

static int check_shape(const mlsae_st_tensor *t, int ndim, const int64_t *shape, mlsae_error *err)
{
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        if (shape[i] >= 0 && shape[i] != t->shape[i]) ok = 0;
    if (!ok) {
        char have[256], want[256];
        shape_str(have, sizeof have, t->ndim, t->shape);
        shape_str(want, sizeof want, ndim, shape);
        return mlsae_fail(err, "%s: tensor '%s' has shape %s, expected %s", t->file, t->name,
                          have, want);
    }
    return 0;
}

const mlsae_st_tensor *mlsae_st_expect(const mlsae_safetensors *st, const char *name, int ndim,
                                       const int64_t *shape, mlsae_error *err)
{
    const mlsae_st_tensor *t = mlsae_st_find(st, name);
    if (!t) {
        mlsae_fail(err, "%s: missing tensor '%s'", st->path, name);
        return NULL;
    }
    if (check_shape(t, ndim, shape, err)) return NULL;
    return t;
}

int mlsae_st_read_f32(const mlsae_safetensors *st, const char *name, int ndim,
                      const int64_t *shape, float *dst, mlsae_error *err)
{
    const mlsae_st_tensor *t = mlsae_st_expect(st, name, ndim, shape, err);
    if (!t) return -1;
    const unsigned char *src = t->data;
    size_t n = (size_t)t->numel;
    switch (t->dtype) {
    case MLSAE_DT_F32:
        memcpy(dst, src, n * 4);
        break;
    case MLSAE_DT_F16:
    case MLSAE_DT_BF16: {
        float (*to_f32)(uint16_t) =
            t->dtype == MLSAE_DT_F16 ? mlsae_f16_to_f32 : mlsae_bf16_to_f32;
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = to_f32(h);
        }
        break;
    }
    case MLSAE_DT_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, src + 8 * i, 8);
            dst[i] = (float)d;
        }
        break;
    default:
        return mlsae_fail(err, "%s: tensor '%s' has dtype %s, expected a float type "
                          "(F32, F16, BF16)", t->file, name, mlsae_dtype_name(t->dtype));
    }
    return 0;
}

int mlsae_st_read_i64(const mlsae_safetensors *st, const char *name, int ndim,
                      const int64_t *shape, int64_t *dst, mlsae_error *err)
{
    const mlsae_st_tensor *t = mlsae_st_expect(st, name, ndim, shape, err);
    if (!t) return -1;
    size_t n = (size_t)t->numel;
    const unsigned char *src = t->data;
    if (t->dtype == MLSAE_DT_I64) {
        memcpy(dst, src, n * 8);
    } else if (t->dtype == MLSAE_DT_I32) {
        for (size_t i = 0; i < n; i++) {
            int32_t v;
            memcpy(&v, src + 4 * i, 4);
            dst[i] = v;
        }
    } else {
        return mlsae_fail(err, "%s: tensor '%s' has dtype %s, expected I64", t->file, name,
                          mlsae_dtype_name(t->dtype));
    }
    return 0;
}

/* ---- writing ------------------------------------------------------------ */

typedef struct wtensor {
    char *name;
    mlsae_dtype dtype;
    int ndim;
    int64_t shape[MLSAE_ST_MAX_DIMS];
    const void *data;
    size_t nbytes;
} wtensor;

struct mlsae_st_writer {
    wtensor *t;
    size_t n, cap;
    json_t *metadata;
};

mlsae_st_writer *mlsae_st_writer_new(void)
{
    return calloc(1, sizeof(mlsae_st_writer));
}

int mlsae_st_writer_add(mlsae_st_writer *w, const char *name, mlsae_dtype dtype, int ndim,
                        const int64_t *shape, const void *data, mlsae_error *err)
{
    if (ndim < 0 || ndim > MLSAE_ST_MAX_DIMS)
        return mlsae_fail(err, "tensor '%s': bad number of dimensions %d", name, ndim);
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return mlsae_fail(err, "tensor '%s' added twice", name);
    int64_t numel;
    size_t nbytes;
    if (shape_numel(shape, ndim, &numel) != 0 || (uint64_t)numel > SIZE_MAX ||
        mlsae_mul_size((size_t)numel, mlsae_dtype_size(dtype), &nbytes))
        return mlsae_fail(err, "tensor '%s': invalid shape", name);
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 8;
        wtensor *nt = realloc(w->t, cap * sizeof *nt);
        if (!nt) return mlsae_fail(err, "out of memory");
        w->t = nt;
        w->cap = cap;
    }
    wtensor *t = &w->t[w->n];
    t->name = strdup(name);
    if (!t->name) return mlsae_fail(err, "out of memory");
    t->dtype = dtype;
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->data = data;
    t->nbytes = nbytes;
    w->n++;
    return 0;
}

int mlsae_st_writer_metadata(mlsae_st_writer *w, const char *key, const char *value,
                             mlsae_error *err)
{
    if (!w->metadata) w->metadata = json_object();
    if (!w->metadata || json_object_set_new(w->metadata, key, json_string(value)) != 0)
        return mlsae_fail(err, "metadata '%s': cannot store (not UTF-8?)", key);
    return 0;
}

int mlsae_st_writer_save(mlsae_st_writer *w, const char *path, mlsae_error *err)
{
    json_t *root = json_object();
    if (!root) return mlsae_fail(err, "out of memory");
    if (w->metadata) json_object_set(root, "__metadata__", w->metadata);
    uint64_t off = 0;
    for (size_t i = 0; i < w->n; i++) {
        json_t *shape = json_array();
        for (int d = 0; d < w->t[i].ndim; d++)
            json_array_append_new(shape, json_integer(w->t[i].shape[d]));
        json_t *ent = json_pack("{s:s, s:o, s:[I, I]}", "dtype", mlsae_dtype_name(w->t[i].dtype),
                                "shape", shape, "data_offsets", (json_int_t)off,
                                (json_int_t)(off + w->t[i].nbytes));
        if (!ent || json_object_set_new(root, w->t[i].name, ent) != 0) {
            json_decref(root);
            return mlsae_fail(err, "%s: cannot build header for '%s'", path, w->t[i].name);
        }
        off += w->t[i].nbytes;
    }
    char *hdr = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!hdr) return mlsae_fail(err, "%s: cannot serialise header", path);
    size_t hlen = strlen(hdr);
    size_t padded = (hlen + 7) & ~(size_t)7; /* data starts 8-byte aligned */
    unsigned char lenbuf[8];
    for (int i = 0; i < 8; i++) lenbuf[i] = (unsigned char)((uint64_t)padded >> (8 * i));

    mlsae_atomic_file af;
    if (mlsae_atomic_open(&af, path, err)) {
        free(hdr);
        return -1;
    }
    int rc = mlsae_atomic_write(&af, lenbuf, 8, err);
    if (!rc) rc = mlsae_atomic_write(&af, hdr, hlen, err);
    for (size_t i = hlen; !rc && i < padded; i++) rc = mlsae_atomic_write(&af, " ", 1, err);
    for (size_t i = 0; !rc && i < w->n; i++)
        rc = mlsae_atomic_write(&af, w->t[i].data, w->t[i].nbytes, err);
    free(hdr);
    if (rc) {
        mlsae_atomic_abort(&af);
        return -1;
    }
    return mlsae_atomic_commit(&af, err);
}

void mlsae_st_writer_free(mlsae_st_writer *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) free(w->t[i].name);
    free(w->t);
    if (w->metadata) json_decref(w->metadata);
    free(w);
}
