/* Weights-only unpickler: see torch_pickle.h for what is accepted. */
#include "config.h"
#include "core/torch_pickle.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bounds on what a file may make us allocate beyond its own size. */
#define MEMO_MAX (1u << 22)
#define STACK_MAX (1u << 20)

typedef enum vkind {
    V_MARK, V_NONE, V_BOOL, V_INT, V_STR, V_TUPLE, V_DICT, V_GLOBAL, V_STORAGE, V_TENSOR
} vkind;

typedef enum gname {
    G_ORDERED_DICT, G_REBUILD_TENSOR_V2, G_STORAGE
} gname;

typedef struct value value;
struct value {
    vkind kind;
    int64_t i;            /* V_INT, V_BOOL */
    char *s;              /* V_STR (NUL-free, NUL-terminated) */
    value **items;        /* V_TUPLE: n items; V_DICT: n key/value pairs (2n) */
    size_t n, cap;
    gname g;              /* V_GLOBAL */
    mlsae_dtype dtype;    /* V_GLOBAL storage type, V_STORAGE */
    char key[MLSAE_TORCH_KEY_MAX + 1]; /* V_STORAGE */
    int64_t numel;        /* V_STORAGE */
    mlsae_torch_record rec; /* V_TENSOR (name unset) */
};

static const struct { const char *name; mlsae_dtype dtype; } storage_types[] = {
    {"FloatStorage", MLSAE_DT_F32}, {"HalfStorage", MLSAE_DT_F16},
    {"BFloat16Storage", MLSAE_DT_BF16}, {"DoubleStorage", MLSAE_DT_F64},
    {"LongStorage", MLSAE_DT_I64}, {"IntStorage", MLSAE_DT_I32},
    {"ShortStorage", MLSAE_DT_I16}, {"CharStorage", MLSAE_DT_I8},
    {"ByteStorage", MLSAE_DT_U8}, {"BoolStorage", MLSAE_DT_BOOL},
};

typedef struct unpickler {
    const unsigned char *p;
    size_t len, pos, op_pos;
    const char *what;
    mlsae_error *err;
    value **all; /* every value made, freed together: no refcounts, no recursion */
    size_t n_all, cap_all;
    value **stack;
    size_t n_stack, cap_stack;
    value **memo;
    size_t cap_memo, memo_next;
    value mark;
} unpickler;

static int fail_at(unpickler *u, const char *msg)
{
    return mlsae_fail(u->err, "%s: %s (pickle byte %zu)", u->what, msg, u->op_pos);
}

static value *new_value(unpickler *u, vkind kind)
{
    if (u->n_all == u->cap_all) {
        size_t cap = u->cap_all ? 2 * u->cap_all : 256;
        value **na = realloc(u->all, cap * sizeof *na);
        if (!na) return NULL;
        u->all = na;
        u->cap_all = cap;
    }
    value *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->kind = kind;
    u->all[u->n_all++] = v;
    return v;
}

static int push(unpickler *u, value *v)
{
    if (!v) return mlsae_fail(u->err, "%s: out of memory", u->what);
    if (u->n_stack == u->cap_stack) {
        if (u->cap_stack >= STACK_MAX) return fail_at(u, "stack deeper than the limit");
        size_t cap = u->cap_stack ? 2 * u->cap_stack : 64;
        value **ns = realloc(u->stack, cap * sizeof *ns);
        if (!ns) return mlsae_fail(u->err, "%s: out of memory", u->what);
        u->stack = ns;
        u->cap_stack = cap;
    }
    u->stack[u->n_stack++] = v;
    return 0;
}

static value *pop(unpickler *u)
{
    if (u->n_stack == 0 || u->stack[u->n_stack - 1] == &u->mark) {
        fail_at(u, "stack underflow");
        return NULL;
    }
    return u->stack[--u->n_stack];
}

static value *top(unpickler *u)
{
    if (u->n_stack == 0 || u->stack[u->n_stack - 1] == &u->mark) {
        fail_at(u, "stack underflow");
        return NULL;
    }
    return u->stack[u->n_stack - 1];
}

/* Index of the topmost mark, or -1 (error set). */
static long find_mark(unpickler *u)
{
    for (size_t i = u->n_stack; i > 0; i--)
        if (u->stack[i - 1] == &u->mark) return (long)(i - 1);
    fail_at(u, "no MARK on the stack");
    return -1;
}

static int need(unpickler *u, size_t n)
{
    if (n > u->len - u->pos) return fail_at(u, "truncated: operand runs past the end");
    return 0;
}

static uint64_t rd_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static int append_item(unpickler *u, value *c, value *item)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 4;
        value **ni = realloc(c->items, cap * sizeof *ni);
        if (!ni) return mlsae_fail(u->err, "%s: out of memory", u->what);
        c->items = ni;
        c->cap = cap;
    }
    c->items[c->n++] = item;
    return 0;
}

static value *make_tuple(unpickler *u, value **items, size_t n)
{
    value *t = new_value(u, V_TUPLE);
    if (!t) return NULL;
    for (size_t i = 0; i < n; i++)
        if (append_item(u, t, items[i])) return NULL;
    return t;
}

static int make_str(unpickler *u, size_t n)
{
    if (need(u, n)) return -1;
    if (memchr(u->p + u->pos, '\0', n)) return fail_at(u, "string with a NUL byte refused");
    value *v = new_value(u, V_STR);
    if (!v || !(v->s = malloc(n + 1))) return mlsae_fail(u->err, "%s: out of memory", u->what);
    memcpy(v->s, u->p + u->pos, n);
    v->s[n] = '\0';
    u->pos += n;
    return push(u, v);
}

static int memo_put(unpickler *u, uint64_t idx)
{
    value *v = top(u);
    if (!v) return -1;
    if (idx >= MEMO_MAX) return fail_at(u, "memo index beyond the limit");
    if (idx >= u->cap_memo) {
        size_t cap = u->cap_memo ? u->cap_memo : 64;
        while (cap <= idx) cap *= 2;
        value **nm = realloc(u->memo, cap * sizeof *nm);
        if (!nm) return mlsae_fail(u->err, "%s: out of memory", u->what);
        memset(nm + u->cap_memo, 0, (cap - u->cap_memo) * sizeof *nm);
        u->memo = nm;
        u->cap_memo = cap;
    }
    u->memo[idx] = v;
    if (idx >= u->memo_next) u->memo_next = idx + 1;
    return 0;
}

static int memo_get(unpickler *u, uint64_t idx)
{
    if (idx >= u->cap_memo || !u->memo[idx]) return fail_at(u, "memo GET of an unset index");
    return push(u, u->memo[idx]);
}

/* Resolve "module" + "name" against the allow-list. */
static int make_global(unpickler *u, const char *module, const char *name)
{
    value *v = new_value(u, V_GLOBAL);
    if (!v) return mlsae_fail(u->err, "%s: out of memory", u->what);
    if (strcmp(module, "collections") == 0 && strcmp(name, "OrderedDict") == 0) {
        v->g = G_ORDERED_DICT;
        return push(u, v);
    }
    if (strcmp(module, "torch._utils") == 0 && strcmp(name, "_rebuild_tensor_v2") == 0) {
        v->g = G_REBUILD_TENSOR_V2;
        return push(u, v);
    }
    if (strcmp(module, "torch") == 0)
        for (size_t i = 0; i < sizeof storage_types / sizeof storage_types[0]; i++)
            if (strcmp(name, storage_types[i].name) == 0) {
                v->g = G_STORAGE;
                v->dtype = storage_types[i].dtype;
                return push(u, v);
            }
    return mlsae_fail(u->err, "%s: GLOBAL %.100s.%.100s refused (pickle byte %zu): only "
                      "state-dict types are allowed", u->what, module, name, u->op_pos);
}

/* GLOBAL: "module\nname\n". */
static int op_global(unpickler *u)
{
    char parts[2][256];
    for (int k = 0; k < 2; k++) {
        const unsigned char *nl = memchr(u->p + u->pos, '\n', u->len - u->pos);
        if (!nl) return fail_at(u, "truncated GLOBAL");
        size_t n = (size_t)(nl - (u->p + u->pos));
        if (n >= sizeof parts[k] || memchr(u->p + u->pos, '\0', n))
            return fail_at(u, "GLOBAL name too long or not text");
        memcpy(parts[k], u->p + u->pos, n);
        parts[k][n] = '\0';
        u->pos += n + 1;
    }
    return make_global(u, parts[0], parts[1]);
}

static int op_stack_global(unpickler *u)
{
    value *name = pop(u), *module = name ? pop(u) : NULL;
    if (!module) return -1;
    if (name->kind != V_STR || module->kind != V_STR)
        return fail_at(u, "STACK_GLOBAL of something other than two strings");
    return make_global(u, module->s, name->s);
}

static int get_int(const value *v, int64_t *out)
{
    if (v->kind != V_INT) return -1;
    *out = v->i;
    return 0;
}

/* (int, ...) of non-negative ints into dst; -1 when not such a tuple. */
static int int_tuple(const value *t, int64_t *dst, int max)
{
    if (t->kind != V_TUPLE || t->n > (size_t)max) return -1;
    for (size_t i = 0; i < t->n; i++)
        if (get_int(t->items[i], &dst[i]) || dst[i] < 0) return -1;
    return (int)t->n;
}

/* _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
 * backward_hooks[, metadata]) (torch/_utils.py). */
static int rebuild_tensor(unpickler *u, value *args)
{
    if (args->kind != V_TUPLE || (args->n != 6 && args->n != 7))
        return fail_at(u, "_rebuild_tensor_v2 with other than 6 or 7 arguments refused");
    value *storage = args->items[0], *hooks = args->items[5];
    if (storage->kind != V_STORAGE) return fail_at(u, "_rebuild_tensor_v2 of a non-storage");
    if (args->items[4]->kind != V_BOOL) return fail_at(u, "_rebuild_tensor_v2: requires_grad not a bool");
    if (hooks->kind != V_DICT || hooks->n != 0)
        return fail_at(u, "_rebuild_tensor_v2 with backward hooks refused");
    if (args->n == 7 && args->items[6]->kind != V_NONE &&
        !(args->items[6]->kind == V_DICT && args->items[6]->n == 0))
        return fail_at(u, "_rebuild_tensor_v2 with tensor metadata refused");
    value *v = new_value(u, V_TENSOR);
    if (!v) return mlsae_fail(u->err, "%s: out of memory", u->what);
    mlsae_torch_record *r = &v->rec;
    memcpy(r->storage_key, storage->key, sizeof r->storage_key);
    r->dtype = storage->dtype;
    r->storage_numel = storage->numel;
    if (get_int(args->items[1], &r->storage_offset) || r->storage_offset < 0)
        return fail_at(u, "_rebuild_tensor_v2: storage_offset not a non-negative int");
    int64_t stride[MLSAE_ST_MAX_DIMS];
    int nd = int_tuple(args->items[2], r->shape, MLSAE_ST_MAX_DIMS);
    int ns = int_tuple(args->items[3], stride, MLSAE_ST_MAX_DIMS);
    if (nd < 0) return fail_at(u, "_rebuild_tensor_v2: size is not a tuple of at most 8 non-negative ints");
    if (ns != nd) return fail_at(u, "_rebuild_tensor_v2: stride is not a tuple of non-negative ints matching size");
    r->ndim = nd;
    /* numel, overflow-checked. */
    int64_t numel = 1;
    for (int d = 0; d < nd; d++) {
        if (r->shape[d] != 0 && numel > INT64_MAX / r->shape[d])
            return fail_at(u, "tensor size overflows");
        numel *= r->shape[d];
    }
    r->numel = numel;
    /* Contiguous: stride[d] == product of the sizes after d, except where size is 1. */
    int64_t expect = 1;
    for (int d = nd - 1; d >= 0 && numel > 0; d--) {
        if (r->shape[d] != 1 && stride[d] != expect)
            return fail_at(u, "non-contiguous tensor view refused (save a .contiguous() copy)");
        expect *= r->shape[d]; /* <= numel: cannot overflow */
    }
    if (numel > 0 && (r->storage_offset > r->storage_numel ||
                      numel > r->storage_numel - r->storage_offset)) {
        char msg[200];
        snprintf(msg, sizeof msg, "tensor of %lld elements at offset %lld runs past its storage "
                 "'%s' of %lld elements", (long long)numel, (long long)r->storage_offset,
                 r->storage_key, (long long)r->storage_numel);
        return fail_at(u, msg);
    }
    return push(u, v);
}

static int op_reduce(unpickler *u)
{
    value *args = pop(u), *fn = args ? pop(u) : NULL;
    if (!fn) return -1;
    if (fn->kind != V_GLOBAL) return fail_at(u, "REDUCE of something that is not an allowed global refused");
    if (args->kind != V_TUPLE) return fail_at(u, "REDUCE with arguments that are not a tuple");
    if (fn->g == G_ORDERED_DICT) {
        if (args->n != 0) return fail_at(u, "REDUCE OrderedDict with arguments refused");
        return push(u, new_value(u, V_DICT));
    }
    if (fn->g == G_REBUILD_TENSOR_V2) return rebuild_tensor(u, args);
    return fail_at(u, "REDUCE of a storage type refused");
}

/* ('storage', storage_type, key, location, numel) -> a storage reference. */
static int op_binpersid(unpickler *u)
{
    value *pid = pop(u);
    if (!pid) return -1;
    if (pid->kind != V_TUPLE || pid->n != 5 || pid->items[0]->kind != V_STR ||
        strcmp(pid->items[0]->s, "storage") != 0)
        return fail_at(u, "persistent id is not ('storage', type, key, location, numel)");
    value *type = pid->items[1], *key = pid->items[2], *loc = pid->items[3];
    int64_t numel;
    if (type->kind != V_GLOBAL || type->g != G_STORAGE)
        return fail_at(u, "persistent id: storage type is not an allowed storage");
    if (key->kind != V_STR || loc->kind != V_STR || get_int(pid->items[4], &numel) || numel < 0)
        return fail_at(u, "persistent id: key, location or numel of the wrong type");
    size_t kl = strlen(key->s);
    if (kl == 0 || kl > MLSAE_TORCH_KEY_MAX || strspn(key->s, "0123456789abcdefghijklmnopqrstuvwxyz"
                                                       "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") != kl)
        return fail_at(u, "persistent id: storage key is not a short [A-Za-z0-9_] name");
    value *v = new_value(u, V_STORAGE);
    if (!v) return mlsae_fail(u->err, "%s: out of memory", u->what);
    memcpy(v->key, key->s, kl + 1);
    v->dtype = type->dtype;
    v->numel = numel;
    return push(u, v);
}

static int op_setitems(unpickler *u, int single)
{
    size_t first;
    if (single) {
        if (u->n_stack < 3) return fail_at(u, "stack underflow");
        first = u->n_stack - 2;
    } else {
        long m = find_mark(u);
        if (m < 0) return -1;
        first = (size_t)m + 1;
        if (first < 2) return fail_at(u, "SETITEMS without a dict");
    }
    size_t n = u->n_stack - first;
    if (n % 2) return fail_at(u, "SETITEMS with an odd number of items");
    value *d = u->stack[single ? first - 1 : first - 2];
    if (d == &u->mark || d->kind != V_DICT) return fail_at(u, "SETITEM on something that is not a dict");
    for (size_t i = first; i < u->n_stack; i++) {
        if (u->stack[i] == &u->mark) return fail_at(u, "stray MARK in SETITEMS");
        if (append_item(u, d, u->stack[i])) return -1;
    }
    u->n_stack = single ? first : first - 1;
    return 0;
}

static int op_tuple_mark(unpickler *u)
{
    long m = find_mark(u);
    if (m < 0) return -1;
    size_t first = (size_t)m + 1;
    value *t = make_tuple(u, u->stack + first, u->n_stack - first);
    if (!t) return mlsae_fail(u->err, "%s: out of memory", u->what);
    u->n_stack = (size_t)m;
    return push(u, t);
}

static int op_tuple_n(unpickler *u, size_t n)
{
    if (u->n_stack < n) return fail_at(u, "stack underflow");
    for (size_t i = u->n_stack - n; i < u->n_stack; i++)
        if (u->stack[i] == &u->mark) return fail_at(u, "stack underflow");
    value *t = make_tuple(u, u->stack + u->n_stack - n, n);
    if (!t) return mlsae_fail(u->err, "%s: out of memory", u->what);
    u->n_stack -= n;
    return push(u, t);
}

static int push_int(unpickler *u, int64_t i)
{
    value *v = new_value(u, V_INT);
    if (v) v->i = i;
    return push(u, v);
}

static int push_bool(unpickler *u, int b)
{
    value *v = new_value(u, V_BOOL);
    if (v) v->i = b;
    return push(u, v);
}

static int step(unpickler *u, int *stop)
{
    u->op_pos = u->pos;
    if (u->pos >= u->len) return fail_at(u, "truncated: no STOP opcode");
    unsigned char op = u->p[u->pos++];
    uint64_t n;
    switch (op) {
    case 0x80: /* PROTO */
        if (need(u, 1)) return -1;
        if (u->p[u->pos] > 5) return fail_at(u, "unknown pickle protocol");
        u->pos++;
        return 0;
    case 0x95: /* FRAME: a length hint */
        if (need(u, 8)) return -1;
        u->pos += 8;
        return 0;
    case '.': /* STOP */
        *stop = 1;
        return 0;
    case '(': /* MARK */
        return push(u, &u->mark);
    case '}': /* EMPTY_DICT */
        return push(u, new_value(u, V_DICT));
    case ')': /* EMPTY_TUPLE */
        return push(u, new_value(u, V_TUPLE));
    case 't': return op_tuple_mark(u);
    case 0x85: return op_tuple_n(u, 1);
    case 0x86: return op_tuple_n(u, 2);
    case 0x87: return op_tuple_n(u, 3);
    case 'J': /* BININT: signed 32 */
        if (need(u, 4)) return -1;
        n = rd_le(u->p + u->pos, 4);
        u->pos += 4;
        return push_int(u, (int64_t)(int32_t)(uint32_t)n);
    case 'K': /* BININT1 */
        if (need(u, 1)) return -1;
        return push_int(u, u->p[u->pos++]);
    case 'M': /* BININT2 */
        if (need(u, 2)) return -1;
        n = rd_le(u->p + u->pos, 2);
        u->pos += 2;
        return push_int(u, (int64_t)n);
    case 0x8a: { /* LONG1: n-byte little-endian two's complement */
        if (need(u, 1)) return -1;
        size_t nb = u->p[u->pos++];
        if (nb > 8) return fail_at(u, "integer wider than 64 bits refused");
        if (need(u, nb)) return -1;
        uint64_t v = nb ? rd_le(u->p + u->pos, (int)nb) : 0;
        if (nb > 0 && nb < 8 && (u->p[u->pos + nb - 1] & 0x80)) v |= ~(uint64_t)0 << (8 * nb);
        u->pos += nb;
        int64_t sv;
        memcpy(&sv, &v, sizeof sv);
        return push_int(u, sv);
    }
    case 'X': /* BINUNICODE: u32 length */
        if (need(u, 4)) return -1;
        n = rd_le(u->p + u->pos, 4);
        u->pos += 4;
        return make_str(u, (size_t)n);
    case 0x8c: /* SHORT_BINUNICODE */
        if (need(u, 1)) return -1;
        return make_str(u, u->p[u->pos++]);
    case 0x8d: /* BINUNICODE8 */
        if (need(u, 8)) return -1;
        n = rd_le(u->p + u->pos, 8);
        u->pos += 8;
        if (n > u->len) return fail_at(u, "truncated: string runs past the end");
        return make_str(u, (size_t)n);
    case 'N': return push(u, new_value(u, V_NONE));
    case 0x88: return push_bool(u, 1);
    case 0x89: return push_bool(u, 0);
    case 'q': /* BINPUT */
        if (need(u, 1)) return -1;
        return memo_put(u, u->p[u->pos++]);
    case 'r': /* LONG_BINPUT */
        if (need(u, 4)) return -1;
        n = rd_le(u->p + u->pos, 4);
        u->pos += 4;
        return memo_put(u, n);
    case 0x94: /* MEMOIZE */
        return memo_put(u, u->memo_next);
    case 'h': /* BINGET */
        if (need(u, 1)) return -1;
        return memo_get(u, u->p[u->pos++]);
    case 'j': /* LONG_BINGET */
        if (need(u, 4)) return -1;
        n = rd_le(u->p + u->pos, 4);
        u->pos += 4;
        return memo_get(u, n);
    case 'c': return op_global(u);
    case 0x93: return op_stack_global(u);
    case 'R': return op_reduce(u);
    case 'Q': return op_binpersid(u);
    case 's': return op_setitems(u, 1);
    case 'u': return op_setitems(u, 0);
    case 'b': { /* BUILD: only a dict's state (the _metadata attribute), discarded */
        value *state = pop(u), *obj = state ? top(u) : NULL;
        if (!obj) return -1;
        if (obj->kind != V_DICT || state->kind != V_DICT)
            return fail_at(u, "BUILD of anything but a dict's attributes refused");
        return 0;
    }
    default: {
        char msg[96];
        snprintf(msg, sizeof msg, "opcode 0x%02x refused (not used by state dicts)", op);
        return fail_at(u, msg);
    }
    }
}

int mlsae_torch_unpickle(const unsigned char *buf, size_t len, const char *what,
                         mlsae_torch_record **out, size_t *n_out, mlsae_error *err)
{
    *out = NULL;
    *n_out = 0;
    unpickler u = {.p = buf, .len = len, .what = what, .err = err};
    u.mark.kind = V_MARK;
    int rc = 0, stop = 0;
    while (!stop && rc == 0) rc = step(&u, &stop);
    value *root = NULL;
    if (rc == 0) {
        if (u.n_stack != 1 || u.stack[0] == &u.mark)
            rc = mlsae_fail(err, "%s: pickle does not end with exactly one object", what);
        else if ((root = u.stack[0])->kind != V_DICT)
            rc = mlsae_fail(err, "%s: the pickled object is not a state dict", what);
    }
    mlsae_torch_record *recs = NULL;
    size_t n = 0;
    if (rc == 0) {
        size_t pairs = root->n / 2;
        recs = calloc(pairs ? pairs : 1, sizeof *recs);
        if (!recs) rc = mlsae_fail(err, "%s: out of memory", what);
        for (size_t i = 0; rc == 0 && i < pairs; i++) {
            value *k = root->items[2 * i], *v = root->items[2 * i + 1];
            if (k->kind != V_STR) {
                rc = mlsae_fail(err, "%s: state dict key %zu is not a string", what, i);
                break;
            }
            if (v->kind != V_TENSOR) {
                rc = mlsae_fail(err, "%s: state dict entry '%.200s' is not a tensor", what, k->s);
                break;
            }
            for (size_t j = 0; j < n; j++)
                if (strcmp(recs[j].name, k->s) == 0) {
                    rc = mlsae_fail(err, "%s: state dict key '%.200s' appears twice", what, k->s);
                    break;
                }
            if (rc) break;
            recs[n] = v->rec;
            recs[n].name = strdup(k->s);
            if (!recs[n].name) {
                rc = mlsae_fail(err, "%s: out of memory", what);
                break;
            }
            n++;
        }
    }
    for (size_t i = 0; i < u.n_all; i++) {
        free(u.all[i]->s);
        free(u.all[i]->items);
        free(u.all[i]);
    }
    free(u.all);
    free(u.stack);
    free(u.memo);
    if (rc) {
        mlsae_torch_records_free(recs, n);
        return -1;
    }
    *out = recs;
    *n_out = n;
    return 0;
}

void mlsae_torch_records_free(mlsae_torch_record *r, size_t n)
{
    if (!r) return;
    for (size_t i = 0; i < n; i++) free(r[i].name);
    free(r);
}
