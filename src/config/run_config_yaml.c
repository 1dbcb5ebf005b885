/* Run configuration <-> YAML (libyaml document API for reading, emitter
 * for writing). The layout is the reference's: sections autoencoder, data
 * and trainer as nested mappings, the rest at the top level. */
#include "config.h"
#include "config/run_config.h"
#include "core/atomic_file.h"
#include "core/metrics_log.h"
#include "core/strbuf.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

/* ---- reading ---------------------------------------------------------------- */

typedef struct load_ctx {
    mlsae_run_config *cfg;
    yaml_document_t *doc;
    const char *name;
    mlsae_error *err;
    unsigned char *seen; /* per option: already set by this file */
    const mlsae_option *opts;
    size_t n_opts;
    /* nodes written with an explicit tag: their start offsets and tags */
    size_t *tag_at;
    char **tag;
    size_t n_tags;
} load_ctx;

#define TAG_PREFIX "tag:yaml.org,2002:"

/* The explicit tag of a node ("!" for the non-specific one), or NULL when
 * the node has none (libyaml's document gives untagged nodes a default). */
static const char *explicit_tag(const load_ctx *c, const yaml_node_t *n)
{
    for (size_t i = 0; i < c->n_tags; i++)
        if (c->tag_at[i] == n->start_mark.index) return c->tag[i];
    return NULL;
}

static int add_tag(load_ctx *c, size_t at, const yaml_char_t *tag)
{
    size_t *na = realloc(c->tag_at, (c->n_tags + 1) * sizeof *na);
    if (!na) return -1;
    c->tag_at = na;
    char **nt = realloc(c->tag, (c->n_tags + 1) * sizeof *nt);
    if (!nt) return -1;
    c->tag = nt;
    c->tag[c->n_tags] = strdup((const char *)tag);
    if (!c->tag[c->n_tags]) return -1;
    c->tag_at[c->n_tags++] = at;
    return 0;
}

/* The document API forgets which tags were written: collect them from the
 * event stream (a syntax error is left to the document loader). */
static int scan_tags(load_ctx *c, const char *text, size_t len)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) return -1;
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    int rc = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) break;
        const yaml_char_t *tag = NULL;
        if (ev.type == YAML_SCALAR_EVENT) tag = ev.data.scalar.tag;
        else if (ev.type == YAML_SEQUENCE_START_EVENT) tag = ev.data.sequence_start.tag;
        else if (ev.type == YAML_MAPPING_START_EVENT) tag = ev.data.mapping_start.tag;
        if (tag && add_tag(c, ev.start_mark.index, tag)) rc = -1;
        int end = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
        if (end || rc) break;
    }
    yaml_parser_delete(&p);
    return rc;
}

static void free_tags(load_ctx *c)
{
    for (size_t i = 0; i < c->n_tags; i++) free(c->tag[i]);
    free(c->tag);
    free(c->tag_at);
}

static int fail_at(load_ctx *c, const yaml_node_t *node, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_at(load_ctx *c, const yaml_node_t *node, const char *key, const char *fmt, ...)
{
    char why[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return mlsae_fail(c->err, "%s:%zu:%zu: %s%s%s", c->name, (size_t)node->start_mark.line + 1,
                      (size_t)node->start_mark.column + 1, key ? key : "", key ? ": " : "", why);
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 64;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* "did you mean" for an unknown key: same last component elsewhere, else
 * the nearest key by edit distance (<= 2). */
static const char *suggest(load_ctx *c, const char *full)
{
    const char *leaf = strrchr(full, '.');
    leaf = leaf ? leaf + 1 : full;
    for (size_t i = 0; i < c->n_opts; i++) {
        const char *l = strrchr(c->opts[i].key, '.');
        l = l ? l + 1 : c->opts[i].key;
        if (strcmp(l, leaf) == 0) return c->opts[i].key;
    }
    const char *best = NULL;
    size_t best_d = 3;
    for (size_t i = 0; i < c->n_opts; i++) {
        size_t d = edit_distance(full, c->opts[i].key);
        if (d < best_d) best_d = d, best = c->opts[i].key;
    }
    return best;
}

static const char *node_kind(const yaml_node_t *n)
{
    return n->type == YAML_MAPPING_NODE ? "a mapping" : n->type == YAML_SEQUENCE_NODE ? "a list" : "a scalar";
}

static int is_plain_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    const char *s = (const char *)n->data.scalar.value;
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static int set_layers_from_sequence(load_ctx *c, const mlsae_option *opt, yaml_node_t *seq)
{
    char why[512];
    if (seq->data.sequence.items.top == seq->data.sequence.items.start)
        return fail_at(c, seq, opt->key, "an empty list selects no layer (use null for all layers)");
    size_t cap = 16, len = 0;
    char *joined = malloc(cap);
    if (!joined) return mlsae_fail(c->err, "%s: out of memory", c->name);
    joined[0] = '\0';
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
        yaml_node_t *item = yaml_document_get_node(c->doc, *it);
        if (!item || item->type != YAML_SCALAR_NODE || item->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
            free(joined);
            return fail_at(c, item ? item : seq, opt->key, "expected a layer index, got %s",
                           item && item->type != YAML_SCALAR_NODE ? node_kind(item) : "a string");
        }
        const char *v = (const char *)item->data.scalar.value;
        /* Check this item alone first so an error points at its line. */
        mlsae_run_config probe = *c->cfg;
        if (mlsae_run_config_set_text(&probe, opt, v, 0, why, sizeof why) != 0 || is_plain_null(item)) {
            free(joined);
            return fail_at(c, item, opt->key, "%s", is_plain_null(item) ? "a layer index cannot be null" : why);
        }
        size_t vl = strlen(v);
        if (len + vl + 2 > cap) {
            while (len + vl + 2 > cap) cap *= 2;
            char *grown = realloc(joined, cap);
            if (!grown) {
                free(joined);
                return mlsae_fail(c->err, "%s: out of memory", c->name);
            }
            joined = grown;
        }
        if (len) joined[len++] = ',';
        memcpy(joined + len, v, vl + 1);
        len += vl;
    }
    int rc = 0;
    if (mlsae_run_config_set_text(c->cfg, opt, joined, 0, why, sizeof why) != 0)
        rc = fail_at(c, seq, opt->key, "%s", why);
    free(joined);
    return rc;
}

static int apply_value(load_ctx *c, const mlsae_option *opt, yaml_node_t *key_node, yaml_node_t *value)
{
    size_t index = (size_t)(opt - c->opts);
    if (c->seen[index]) return fail_at(c, key_node, opt->key, "duplicate key");
    c->seen[index] = 1;
    char why[512];
    const char *tag = explicit_tag(c, value);
    int tagged_str = 0;
    if (tag) {
        /* YAML's core tags; the non-specific "!" makes a plain scalar a string */
        const char *core = strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) == 0
                               ? tag + strlen(TAG_PREFIX) : NULL;
        int ok = value->type == YAML_SCALAR_NODE
                     ? (strcmp(tag, "!") == 0 ||
                        (core && (!strcmp(core, "str") || !strcmp(core, "int") ||
                                  !strcmp(core, "float") || !strcmp(core, "bool") ||
                                  !strcmp(core, "null"))))
                     : core && !strcmp(core, value->type == YAML_SEQUENCE_NODE ? "seq" : "map");
        if (!ok) return fail_at(c, value, opt->key, "unsupported tag '%s'", tag);
        tagged_str = strcmp(tag, "!") == 0 || (core && !strcmp(core, "str"));
    }
    if (opt->type == MLSAE_OPT_LAYERS && value->type == YAML_SEQUENCE_NODE)
        return set_layers_from_sequence(c, opt, value);
    if (value->type != YAML_SCALAR_NODE)
        return fail_at(c, value, opt->key, "expected %s, got %s",
                       opt->type == MLSAE_OPT_LAYERS ? "a list of layer indices" : "a single value",
                       node_kind(value));
    const char *text = (const char *)value->data.scalar.value;
    if (strlen(text) != value->data.scalar.length)
        return fail_at(c, value, opt->key, "contains a NUL character");
    if (opt->type == MLSAE_OPT_LAYERS && !(is_plain_null(value) && !tagged_str))
        return fail_at(c, value, opt->key, "expected a list of layer indices (e.g. [0, 1, 2]) or null, got '%s'", text);
    /* a quoted scalar is a string unless a tag says otherwise (!!int "5") */
    int quoted = tag ? tagged_str : value->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
    if (mlsae_run_config_set_text(c->cfg, opt, text, quoted, why, sizeof why) != 0)
        return fail_at(c, value, opt->key, "%s", why);
    return 0;
}

/* The key/value pairs of a mapping as YAML defines them: keys unique (a
 * duplicate is an error), and the merge key "<<" (a mapping or a list of
 * mappings, as PyYAML reads it) adding the pairs of those mappings whose
 * keys the mapping does not have itself, the earlier mapping winning. */
typedef struct pair_list {
    yaml_node_t **k, **v;
    size_t n, cap;
} pair_list;

static const char *pl_find(const pair_list *pl, const char *name, size_t *at)
{
    for (size_t i = 0; i < pl->n; i++)
        if (strcmp((const char *)pl->k[i]->data.scalar.value, name) == 0) {
            if (at) *at = i;
            return name;
        }
    return NULL;
}

static int pl_add(load_ctx *c, pair_list *pl, yaml_node_t *k, yaml_node_t *v)
{
    if (pl->n == pl->cap) {
        size_t cap = pl->cap ? 2 * pl->cap : 16;
        yaml_node_t **nk = realloc(pl->k, cap * sizeof *nk), **nv;
        if (!nk) return mlsae_fail(c->err, "%s: out of memory", c->name);
        pl->k = nk;
        nv = realloc(pl->v, cap * sizeof *nv);
        if (!nv) return mlsae_fail(c->err, "%s: out of memory", c->name);
        pl->v = nv;
        pl->cap = cap;
    }
    pl->k[pl->n] = k;
    pl->v[pl->n++] = v;
    return 0;
}

static int is_merge_key(const load_ctx *c, const yaml_node_t *k)
{
    const char *tag = explicit_tag(c, k);
    if (tag) return strcmp(tag, TAG_PREFIX "merge") == 0;
    return k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           strcmp((const char *)k->data.scalar.value, "<<") == 0;
}

static int mapping_pairs(load_ctx *c, yaml_node_t *map, pair_list *out, int depth)
{
    if (depth > 16) return fail_at(c, map, NULL, "merge keys nested too deeply");
    const char *tag = explicit_tag(c, map);
    if (tag && strcmp(tag, TAG_PREFIX "map") != 0)
        return fail_at(c, map, NULL, "unsupported tag '%s'", tag);
    yaml_node_t *merge = NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
        if (!k || !v) return mlsae_fail(c->err, "%s: malformed YAML document", c->name);
        if (k->type != YAML_SCALAR_NODE) return fail_at(c, k, NULL, "keys must be names, got %s", node_kind(k));
        const char *ktag = explicit_tag(c, k);
        if (ktag && strcmp(ktag, TAG_PREFIX "str") != 0 && strcmp(ktag, "!") != 0 &&
            !is_merge_key(c, k))
            return fail_at(c, k, NULL, "unsupported tag '%s' on a key", ktag);
        const char *name = (const char *)k->data.scalar.value;
        if (strlen(name) != k->data.scalar.length) return fail_at(c, k, NULL, "key contains a NUL character");
        size_t first;
        if (is_merge_key(c, k)) {
            if (merge)
                return fail_at(c, k, NULL, "duplicate key '<<' (first at line %zu, column %zu)",
                               (size_t)merge->start_mark.line + 1, (size_t)merge->start_mark.column + 1);
            merge = k;
            continue;
        }
        if (pl_find(out, name, &first)) {
            const yaml_node_t *f = out->k[first];
            return fail_at(c, k, NULL, "duplicate key '%s' (first at line %zu, column %zu); YAML "
                           "keys are unique", name, (size_t)f->start_mark.line + 1,
                           (size_t)f->start_mark.column + 1);
        }
        if (pl_add(c, out, k, v)) return -1;
    }
    if (!merge) return 0;
    yaml_node_t *mv = NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++)
        if (yaml_document_get_node(c->doc, p->key) == merge) mv = yaml_document_get_node(c->doc, p->value);
    yaml_node_t *one[1] = {mv};
    yaml_node_t **src = one;
    size_t n_src = 1;
    yaml_node_t **items = NULL;
    if (mv->type == YAML_SEQUENCE_NODE) {
        n_src = (size_t)(mv->data.sequence.items.top - mv->data.sequence.items.start);
        items = calloc(n_src ? n_src : 1, sizeof *items);
        if (!items) return mlsae_fail(c->err, "%s: out of memory", c->name);
        for (size_t i = 0; i < n_src; i++)
            items[i] = yaml_document_get_node(c->doc, mv->data.sequence.items.start[i]);
        src = items;
    }
    int rc = 0;
    for (size_t i = 0; i < n_src && rc == 0; i++) {
        if (!src[i] || src[i]->type != YAML_MAPPING_NODE) {
            rc = fail_at(c, src[i] ? src[i] : mv, "<<",
                         "a merge key takes a mapping or a list of mappings");
            break;
        }
        pair_list sub = {0};
        rc = mapping_pairs(c, src[i], &sub, depth + 1);
        for (size_t j = 0; rc == 0 && j < sub.n; j++)
            if (!pl_find(out, (const char *)sub.k[j]->data.scalar.value, NULL))
                rc = pl_add(c, out, sub.k[j], sub.v[j]);
        free(sub.k);
        free(sub.v);
    }
    free(items);
    return rc;
}

static int apply_pair(load_ctx *c, yaml_node_t *k, yaml_node_t *v, const char *prefix);

static int apply_mapping(load_ctx *c, yaml_node_t *map, const char *prefix)
{
    pair_list pl = {0};
    int rc = mapping_pairs(c, map, &pl, 0);
    for (size_t i = 0; rc == 0 && i < pl.n; i++) {
        yaml_node_t *k = pl.k[i], *v = pl.v[i];
        rc = apply_pair(c, k, v, prefix);
    }
    free(pl.k);
    free(pl.v);
    return rc;
}

static int apply_pair(load_ctx *c, yaml_node_t *k, yaml_node_t *v, const char *prefix)
{
    {
        const char *name = (const char *)k->data.scalar.value;
        char full[256];
        if (snprintf(full, sizeof full, "%s%s%s", prefix, *prefix ? "." : "", name) >= (int)sizeof full)
            return fail_at(c, k, NULL, "key too long");
        const mlsae_option *opt = NULL;
        int is_section = 0;
        size_t flen = strlen(full);
        for (size_t i = 0; i < c->n_opts; i++) {
            if (strcmp(c->opts[i].key, full) == 0) opt = &c->opts[i];
            else if (strncmp(c->opts[i].key, full, flen) == 0 && c->opts[i].key[flen] == '.') is_section = 1;
        }
        if (opt) {
            if (apply_value(c, opt, k, v) != 0) return -1;
        } else if (is_section) {
            if (is_plain_null(v) && !explicit_tag(c, v)) return 0; /* an empty section */
            if (v->type != YAML_MAPPING_NODE)
                return fail_at(c, v, full, "expected a mapping of %s options, got %s", full, node_kind(v));
            if (apply_mapping(c, v, full) != 0) return -1;
        } else {
            const char *hint = suggest(c, full);
            return fail_at(c, k, NULL, "unknown key '%s'%s%s%s", full, hint ? " (did you mean '" : "",
                           hint ? hint : "", hint ? "'?)" : "");
        }
    }
    return 0;
}

static int parser_error(const yaml_parser_t *p, const char *name, mlsae_error *err)
{
    const yaml_mark_t *m = p->problem ? &p->problem_mark : &p->context_mark;
    return mlsae_fail(err, "%s:%zu:%zu: invalid YAML: %s%s%s", name, (size_t)m->line + 1,
                      (size_t)m->column + 1, p->problem ? p->problem : "syntax error",
                      p->context ? " " : "", p->context ? p->context : "");
}

int mlsae_run_config_load_yaml_text(mlsae_run_config *cfg, const char *text, size_t len,
                                    const char *name, mlsae_error *err)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) return mlsae_fail(err, "%s: out of memory", name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        parser_error(&parser, name, err);
        yaml_parser_delete(&parser);
        return -1;
    }
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root) {
        /* A second document is an error: which one would win? */
        yaml_document_t next;
        if (!yaml_parser_load(&parser, &next)) {
            rc = parser_error(&parser, name, err);
        } else {
            yaml_node_t *r2 = yaml_document_get_root_node(&next);
            if (r2)
                rc = mlsae_fail(err, "%s:%zu: only one YAML document is allowed", name,
                                (size_t)r2->start_mark.line + 1);
            yaml_document_delete(&next);
        }
    }
    if (rc == 0 && root && !is_plain_null(root)) {
        size_t n_opts;
        const mlsae_option *opts = mlsae_run_config_options(&n_opts);
        unsigned char *seen = calloc(n_opts, 1);
        load_ctx c = {cfg, &doc, name, err, seen, opts, n_opts, NULL, NULL, 0};
        if (!seen || scan_tags(&c, text, len)) rc = mlsae_fail(err, "%s: out of memory", name);
        else if (root->type != YAML_MAPPING_NODE)
            rc = fail_at(&c, root, NULL, "expected a mapping of options, got %s", node_kind(root));
        else {
            /* Apply to a copy so a failing file leaves cfg untouched. */
            mlsae_run_config *work = malloc(sizeof *work);
            if (!work) rc = mlsae_fail(err, "%s: out of memory", name);
            else {
                *work = *cfg;
                c.cfg = work;
                rc = apply_mapping(&c, root, "");
                if (rc == 0) *cfg = *work;
                free(work);
            }
        }
        free(seen);
        free_tags(&c);
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

int mlsae_run_config_load_yaml(mlsae_run_config *cfg, const char *path, mlsae_error *err)
{
    char *text = NULL;
    size_t len = 0;
    if (mlsae_read_file(path, &text, &len, err) != 0) return -1;
    int rc = mlsae_run_config_load_yaml_text(cfg, text, len, path, err);
    free(text);
    return rc;
}

/* ---- writing ------------------------------------------------------------------ */

static int write_handler(void *ctx, unsigned char *buffer, size_t size)
{
    return mlsae_strbuf_put(ctx, buffer, size) == 0;
}

/* A string that a YAML reader would take for null, a boolean or a number
 * when written plain must be quoted. Conservative: anything that starts
 * like a number or matches a YAML 1.1 keyword. */
static int needs_quotes(const char *s)
{
    static const char *words[] = {"null", "~", "true", "false", "yes", "no", "on", "off", "y", "n", "none"};
    if (!*s || strchr("0123456789+-.", *s)) return 1;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcasecmp(s, words[i]) == 0) return 1;
    return 0;
}

static int emit(yaml_emitter_t *em, yaml_event_t *ev) { return yaml_emitter_emit(em, ev); }

static int emit_plain(yaml_emitter_t *em, const char *text)
{
    yaml_event_t ev;
    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)text, (int)strlen(text), 1, 1,
                                 YAML_PLAIN_SCALAR_STYLE);
    return emit(em, &ev);
}

static int emit_string(yaml_emitter_t *em, const char *text)
{
    yaml_event_t ev;
    int plain_ok = !needs_quotes(text);
    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)text, (int)strlen(text),
                                 plain_ok, 1, plain_ok ? YAML_ANY_SCALAR_STYLE : YAML_DOUBLE_QUOTED_SCALAR_STYLE);
    return emit(em, &ev);
}

/* Reals as PyYAML writes them: shortest exact form, always with a '.' so
 * that YAML 1.1 readers see a float ("1.0e-05", "1000000000.0"). */
static void format_yaml_real(double v, char *buf, size_t n)
{
    char tmp[64];
    if (v == floor(v) && fabs(v) < 1e16) {
        snprintf(buf, n, "%.1f", v);
        return;
    }
    mlsae_format_double_shortest(v, tmp, sizeof tmp);
    char *e = strchr(tmp, 'e');
    if (e && !memchr(tmp, '.', (size_t)(e - tmp)))
        snprintf(buf, n, "%.*s.0%s", (int)(e - tmp), tmp, e);
    else
        snprintf(buf, n, "%s", tmp);
}

static int emit_value(yaml_emitter_t *em, const mlsae_run_config *cfg, const mlsae_option *o)
{
    const char *field = (const char *)cfg + o->offset;
    char buf[64];
    switch (o->type) {
    case MLSAE_OPT_BOOL:
        return emit_plain(em, *(const int *)field ? "true" : "false");
    case MLSAE_OPT_INT: {
        int64_t v = *(const int64_t *)field;
        if (o->nullable && v == MLSAE_CONFIG_NONE) return emit_plain(em, "null");
        snprintf(buf, sizeof buf, "%lld", (long long)v);
        return emit_plain(em, buf);
    }
    case MLSAE_OPT_REAL: {
        double v = *(const double *)field;
        if (isnan(v)) return emit_plain(em, "null");
        format_yaml_real(v, buf, sizeof buf);
        return emit_plain(em, buf);
    }
    case MLSAE_OPT_STRING:
        if (!field[0]) return emit_plain(em, "null");
        return emit_string(em, field);
    case MLSAE_OPT_LAYERS: {
        if (cfg->n_layers == 0) return emit_plain(em, "null");
        yaml_event_t ev;
        yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_FLOW_SEQUENCE_STYLE);
        if (!emit(em, &ev)) return 0;
        for (int i = 0; i < cfg->n_layers; i++) {
            snprintf(buf, sizeof buf, "%d", cfg->layers[i]);
            if (!emit_plain(em, buf)) return 0;
        }
        yaml_sequence_end_event_initialize(&ev);
        return emit(em, &ev);
    }
    }
    return 0;
}

static int emit_config(yaml_emitter_t *em, const mlsae_run_config *cfg)
{
    yaml_event_t ev;
    size_t count;
    const mlsae_option *opts = mlsae_run_config_options(&count);
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    if (!emit(em, &ev)) return 0;
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
    if (!emit(em, &ev)) return 0;
    yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
    if (!emit(em, &ev)) return 0;
    char section[64] = "";
    for (size_t i = 0; i < count; i++) {
        const char *dot = strchr(opts[i].key, '.');
        size_t len = dot ? (size_t)(dot - opts[i].key) : 0;
        if (len >= sizeof section) return 0;
        if (strlen(section) != len || strncmp(section, opts[i].key, len) != 0) {
            if (section[0]) {
                yaml_mapping_end_event_initialize(&ev);
                if (!emit(em, &ev)) return 0;
            }
            memcpy(section, opts[i].key, len);
            section[len] = '\0';
            if (len) {
                if (!emit_plain(em, section)) return 0;
                yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
                if (!emit(em, &ev)) return 0;
            }
        }
        if (!emit_plain(em, dot ? dot + 1 : opts[i].key)) return 0;
        if (!emit_value(em, cfg, &opts[i])) return 0;
    }
    if (section[0]) {
        yaml_mapping_end_event_initialize(&ev);
        if (!emit(em, &ev)) return 0;
    }
    yaml_mapping_end_event_initialize(&ev);
    if (!emit(em, &ev)) return 0;
    yaml_document_end_event_initialize(&ev, 1);
    if (!emit(em, &ev)) return 0;
    yaml_stream_end_event_initialize(&ev);
    return emit(em, &ev);
}

int mlsae_run_config_to_yaml(const mlsae_run_config *cfg, char **text, size_t *len, mlsae_error *err)
{
    yaml_emitter_t em;
    mlsae_strbuf b = {0};
    *text = NULL;
    if (!yaml_emitter_initialize(&em)) return mlsae_fail(err, "YAML emitter: out of memory");
    yaml_emitter_set_output(&em, write_handler, &b);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_width(&em, -1);
    int ok = emit_config(&em, cfg) && yaml_emitter_flush(&em);
    if (!ok) {
        mlsae_fail(err, "cannot write the configuration as YAML: %s",
                   em.problem ? em.problem : "out of memory");
        yaml_emitter_delete(&em);
        mlsae_strbuf_free(&b);
        return -1;
    }
    yaml_emitter_delete(&em);
    *text = b.data;
    if (len) *len = b.len;
    return 0;
}

int mlsae_run_config_write_yaml(const mlsae_run_config *cfg, FILE *out, mlsae_error *err)
{
    char *text;
    size_t len;
    if (mlsae_run_config_to_yaml(cfg, &text, &len, err) != 0) return -1;
    size_t w = fwrite(text, 1, len, out);
    free(text);
    if (w != len || fflush(out) != 0) return mlsae_fail_errno(err, "cannot write the configuration");
    return 0;
}
