/* Run configuration: values from text, defaults, validation, derived
 * quantities, equality and --help (see run_config.h). */
#include "config.h"
#include "config/run_config.h"
#include "sae/mlsae.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- lookup --------------------------------------------------------------- */

/* Compare a command-line name with a table name, '-' and '_' equal. */
static int same_name(const char *a, size_t alen, const char *b)
{
    size_t i = 0;
    for (; i < alen && b[i]; i++) {
        char x = a[i] == '-' ? '_' : a[i], y = b[i] == '-' ? '_' : b[i];
        if (x != y) return 0;
    }
    return i == alen && b[i] == '\0';
}

static int in_alias_list(const char *aliases, const char *name, size_t len)
{
    const char *p = aliases;
    while (*p) {
        while (*p == ' ') p++;
        const char *end = p;
        while (*end && *end != ' ') end++;
        if (end > p) {
            char one[64];
            size_t n = (size_t)(end - p) < sizeof one - 1 ? (size_t)(end - p) : sizeof one - 1;
            memcpy(one, p, n);
            one[n] = '\0';
            if (same_name(name, len, one)) return 1;
        }
        p = end;
    }
    return 0;
}

const mlsae_option *mlsae_run_config_find_option(const char *name)
{
    size_t count, len = strlen(name);
    const mlsae_option *opts = mlsae_run_config_options(&count);
    for (size_t i = 0; i < count; i++)
        if (same_name(name, len, opts[i].key)) return &opts[i];
    for (size_t i = 0; i < count; i++) {
        const char *leaf = strrchr(opts[i].key, '.');
        leaf = leaf ? leaf + 1 : opts[i].key;
        if (same_name(name, len, leaf) || in_alias_list(opts[i].aliases, name, len))
            return &opts[i];
    }
    return NULL;
}

/* ---- scalars ---------------------------------------------------------------- */

static int is_null_text(const char *s)
{
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0 || strcmp(s, "None") == 0;
}

static int parse_bool(const char *s, int *out)
{
    static const char *yes[] = {"true", "yes", "on", "1"};
    static const char *no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) return *out = 1, 0;
        if (strcasecmp(s, no[i]) == 0) return *out = 0, 0;
    }
    return -1;
}

/* Copy s without '_' digit separators (1_000_000, as YAML 1.1 and Python
 * allow). Returns -1 when an underscore is not between two digits. */
static int strip_separators(const char *s, char *out, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; s[i]; i++) {
        if (s[i] == '_') {
            if (i == 0 || !isdigit((unsigned char)s[i - 1]) || !isdigit((unsigned char)s[i + 1]))
                return -1;
            continue;
        }
        if (k + 1 >= n) return -1;
        out[k++] = s[i];
    }
    out[k] = '\0';
    return 0;
}

/* A finite decimal number (integer or real notation). */
static int parse_real(const char *s, double *out)
{
    char buf[128];
    if (strip_separators(s, buf, sizeof buf) != 0 || buf[0] == '\0') return -1;
    /* strtod would also take "inf", "nan" and hex floats: accept only decimal. */
    for (const char *p = buf; *p; p++)
        if (!isdigit((unsigned char)*p) && !strchr("+-.eE", *p)) return -1;
    errno = 0;
    char *end;
    double v = strtod(buf, &end);
    if (*end != '\0' || end == buf || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

/* An integer, also written as an integral real ("1e7", "1.0e+7"). */
static int parse_int(const char *s, int64_t *out, int *not_integral)
{
    char buf[128];
    *not_integral = 0;
    if (strip_separators(s, buf, sizeof buf) != 0 || buf[0] == '\0') return -1;
    errno = 0;
    char *end;
    long long v = strtoll(buf, &end, 10);
    if (*end == '\0' && end != buf) {
        if (errno == ERANGE) return -1;
        *out = (int64_t)v;
        return 0;
    }
    double d;
    if (parse_real(s, &d) != 0) return -1;
    if (d != floor(d) || fabs(d) > 9.0e18) {
        *not_integral = 1;
        return -1;
    }
    *out = (int64_t)d;
    return 0;
}

static int range_ok(const mlsae_option *opt, double v, char *why, size_t n)
{
    if (opt->min_exclusive ? !(v > opt->min) : !(v >= opt->min)) {
        snprintf(why, n, "must be %s %g, got %.17g", opt->min_exclusive ? ">" : ">=", opt->min, v);
        return -1;
    }
    if (!(v <= opt->max)) {
        snprintf(why, n, "must be <= %.17g, got %.17g", opt->max, v);
        return -1;
    }
    return 0;
}

/* Layers from text: "0,1,2", "0 1 2", "[0, 1, 2]". */
static int parse_layers(const mlsae_option *opt, const char *s, int *layers, int *n_layers,
                        char *why, size_t n)
{
    const char *p = s;
    while (isspace((unsigned char)*p)) p++;
    int bracket = *p == '[';
    if (bracket) p++;
    int count = 0;
    for (;;) {
        while (isspace((unsigned char)*p) || *p == ',') p++;
        if (*p == '\0' || (bracket && *p == ']')) break;
        const char *start = p;
        while (*p && !isspace((unsigned char)*p) && *p != ',' && *p != ']') p++;
        char one[64];
        size_t len = (size_t)(p - start);
        if (len >= sizeof one) len = sizeof one - 1;
        memcpy(one, start, len);
        one[len] = '\0';
        int64_t v;
        int frac;
        if (parse_int(one, &v, &frac) != 0) {
            snprintf(why, n, "expected a list of layer indices, got '%s'", one);
            return -1;
        }
        if (range_ok(opt, (double)v, why, n) != 0) return -1;
        for (int i = 0; i < count; i++)
            if (layers[i] == v) {
                snprintf(why, n, "layer %d is listed twice", (int)v);
                return -1;
            }
        if (count >= MLSAE_CONFIG_MAX_LAYERS) {
            snprintf(why, n, "more than %d layers", MLSAE_CONFIG_MAX_LAYERS);
            return -1;
        }
        layers[count++] = (int)v;
    }
    if (bracket && *p != ']') {
        snprintf(why, n, "missing ']' in '%s'", s);
        return -1;
    }
    if (bracket) p++;
    while (isspace((unsigned char)*p)) p++;
    if (*p) {
        snprintf(why, n, "unexpected text after ']' in '%s'", s);
        return -1;
    }
    if (count == 0) {
        snprintf(why, n, "an empty list selects no layer (use null for all layers)");
        return -1;
    }
    *n_layers = count;
    return 0;
}

static const char *type_name(mlsae_option_type t)
{
    switch (t) {
    case MLSAE_OPT_BOOL: return "a boolean (true/false)";
    case MLSAE_OPT_INT: return "an integer";
    case MLSAE_OPT_REAL: return "a number";
    case MLSAE_OPT_STRING: return "a string";
    case MLSAE_OPT_LAYERS: return "a list of layer indices";
    }
    return "a value";
}

int mlsae_run_config_set_text(mlsae_run_config *cfg, const mlsae_option *opt, const char *text,
                              int quoted, char *why, size_t n)
{
    char *field = (char *)cfg + opt->offset;
    if (quoted && opt->type != MLSAE_OPT_STRING) {
        snprintf(why, n, "expected %s, got the string '%s'", type_name(opt->type), text);
        return -1;
    }
    if (!quoted && is_null_text(text)) {
        if (!opt->nullable) {
            snprintf(why, n, "must not be null (expected %s)", type_name(opt->type));
            return -1;
        }
        switch (opt->type) {
        case MLSAE_OPT_INT: *(int64_t *)field = MLSAE_CONFIG_NONE; break;
        case MLSAE_OPT_REAL: *(double *)field = NAN; break;
        case MLSAE_OPT_STRING: memset(field, 0, opt->size); break;
        case MLSAE_OPT_LAYERS: cfg->n_layers = 0; break;
        case MLSAE_OPT_BOOL: break; /* booleans are never nullable */
        }
        return 0;
    }
    /* Keep the old value to put back when the option's own check fails. */
    char saved[MLSAE_CONFIG_STR_MAX];
    int can_restore = opt->type != MLSAE_OPT_LAYERS && opt->size <= sizeof saved;
    if (can_restore) memcpy(saved, field, opt->size);
    switch (opt->type) {
    case MLSAE_OPT_BOOL: {
        int b;
        if (parse_bool(text, &b) != 0) {
            snprintf(why, n, "expected a boolean (true/false), got '%s'", text);
            return -1;
        }
        *(int *)field = b;
        break;
    }
    case MLSAE_OPT_INT: {
        int64_t v;
        int frac;
        if (parse_int(text, &v, &frac) != 0) {
            snprintf(why, n, frac ? "expected an integer, got the fraction '%s'"
                                  : "expected an integer, got '%s'", text);
            return -1;
        }
        if (range_ok(opt, (double)v, why, n) != 0) return -1;
        *(int64_t *)field = v;
        break;
    }
    case MLSAE_OPT_REAL: {
        double v;
        if (parse_real(text, &v) != 0) {
            snprintf(why, n, "expected a finite number, got '%s'", text);
            return -1;
        }
        if (range_ok(opt, v, why, n) != 0) return -1;
        *(double *)field = v;
        break;
    }
    case MLSAE_OPT_STRING: {
        size_t len = strlen(text);
        if (len >= opt->size) {
            snprintf(why, n, "longer than %zu bytes", opt->size - 1);
            return -1;
        }
        if (len == 0) {
            snprintf(why, n, "must not be empty");
            return -1;
        }
        memset(field, 0, opt->size);
        memcpy(field, text, len);
        break;
    }
    case MLSAE_OPT_LAYERS: {
        int layers[MLSAE_CONFIG_MAX_LAYERS], count = 0;
        if (parse_layers(opt, text, layers, &count, why, n) != 0) return -1;
        memset(cfg->layers, 0, sizeof cfg->layers);
        memcpy(cfg->layers, layers, (size_t)count * sizeof layers[0]);
        cfg->n_layers = count;
        break;
    }
    }
    if (opt->check && opt->check(cfg, why, n) != 0) {
        if (can_restore) memcpy(field, saved, opt->size);
        return -1;
    }
    return 0;
}

/* ---- whole configurations ------------------------------------------------- */

void mlsae_run_config_defaults(mlsae_run_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    size_t count;
    const mlsae_option *opts = mlsae_run_config_options(&count);
    char why[256];
    for (size_t i = 0; i < count; i++) {
        /* The defaults are constants of the table; they always parse (the
         * tests check every one). */
        if (mlsae_run_config_set_text(cfg, &opts[i], opts[i].default_text, 0, why, sizeof why))
            abort();
    }
}

int mlsae_run_config_validate(const mlsae_run_config *cfg, mlsae_error *err)
{
    size_t count;
    const mlsae_option *opts = mlsae_run_config_options(&count);
    char why[512];
    for (size_t i = 0; i < count; i++)
        if (opts[i].check && opts[i].check(cfg, why, sizeof why) != 0)
            return mlsae_fail(err, "%s: %s", opts[i].key, why);
    const mlsae_autoencoder_config *ae = &cfg->autoencoder;
    if (ae->auxk != MLSAE_CONFIG_NONE && ae->auxk < 1)
        return mlsae_fail(err, "autoencoder.auxk: must be >= 1 or null");
    /* The tokens of a micro-batch index int arrays (rows x positions). */
    if (cfg->data.batch_size * cfg->data.max_length > ((int64_t)1 << 30))
        return mlsae_fail(err, "data.batch_size * data.max_length = %lld tokens per micro-batch "
                          "is too large (at most 2^30)",
                          (long long)(cfg->data.batch_size * cfg->data.max_length));
    /* Products used to derive step counts must not overflow. */
    double per_step = (double)cfg->data.batch_size * (double)cfg->data.max_length *
                      (double)cfg->trainer.accumulate_grad_batches;
    if (per_step > 9.0e15)
        return mlsae_fail(err, "data.batch_size * data.max_length * "
                               "trainer.accumulate_grad_batches is too large (%.3g)", per_step);
    return 0;
}

int mlsae_run_config_check_context(const mlsae_run_config *cfg, int64_t max_positions,
                                   const char *model, mlsae_error *err)
{
    if (cfg->data.max_length > max_positions)
        return mlsae_fail(err, "data.max_length: %lld tokens is longer than the model's context "
                          "(%s: max_position_embeddings %lld)", (long long)cfg->data.max_length,
                          model, (long long)max_positions);
    return 0;
}

int mlsae_run_config_check_model(const mlsae_run_config *cfg, int64_t d_model,
                                 int64_t n_model_layers, mlsae_error *err)
{
    const mlsae_autoencoder_config *ae = &cfg->autoencoder;
    if (d_model < 1) return mlsae_fail(err, "model: d_model must be >= 1, got %lld", (long long)d_model);
    if (ae->expansion_factor > INT32_MAX / d_model)
        return mlsae_fail(err, "autoencoder.expansion_factor: %lld x d_model %lld latents is too many",
                          (long long)ae->expansion_factor, (long long)d_model);
    int64_t n_latents = ae->expansion_factor * d_model;
    if (ae->k > n_latents)
        return mlsae_fail(err, "autoencoder.k: %lld is more than the %lld latents "
                               "(expansion_factor %lld x d_model %lld)",
                          (long long)ae->k, (long long)n_latents, (long long)ae->expansion_factor,
                          (long long)d_model);
    if (ae->auxk != MLSAE_CONFIG_NONE && ae->auxk > n_latents)
        return mlsae_fail(err, "autoencoder.auxk: %lld is more than the %lld latents "
                               "(expansion_factor %lld x d_model %lld)",
                          (long long)ae->auxk, (long long)n_latents,
                          (long long)ae->expansion_factor, (long long)d_model);
    for (int i = 0; i < cfg->n_layers; i++)
        if (cfg->layers[i] >= n_model_layers)
            return mlsae_fail(err, "layers: layer %d does not exist (the model has %lld layers, 0..%lld)",
                              cfg->layers[i], (long long)n_model_layers, (long long)n_model_layers - 1);
    return 0;
}

int mlsae_run_config_equal(const mlsae_run_config *a, const mlsae_run_config *b)
{
    size_t count;
    const mlsae_option *opts = mlsae_run_config_options(&count);
    for (size_t i = 0; i < count; i++) {
        const char *fa = (const char *)a + opts[i].offset, *fb = (const char *)b + opts[i].offset;
        switch (opts[i].type) {
        case MLSAE_OPT_BOOL:
            if (*(const int *)fa != *(const int *)fb) return 0;
            break;
        case MLSAE_OPT_INT:
            if (*(const int64_t *)fa != *(const int64_t *)fb) return 0;
            break;
        case MLSAE_OPT_REAL: {
            double x = *(const double *)fa, y = *(const double *)fb;
            if (!(x == y || (isnan(x) && isnan(y)))) return 0;
            break;
        }
        case MLSAE_OPT_STRING:
            if (strncmp(fa, fb, opts[i].size) != 0) return 0;
            break;
        case MLSAE_OPT_LAYERS:
            if (a->n_layers != b->n_layers) return 0;
            for (int l = 0; l < a->n_layers; l++)
                if (a->layers[l] != b->layers[l]) return 0;
            break;
        }
    }
    return 1;
}

/* ---- derived ---------------------------------------------------------------- */

void mlsae_run_config_derive(const mlsae_run_config *cfg, mlsae_run_derived *d)
{
    const int64_t accumulate = cfg->trainer.accumulate_grad_batches;
    d->tokens_per_micro_batch = cfg->data.batch_size * cfg->data.max_length;
    d->max_micro_batches = (int64_t)ceil(cfg->data.max_tokens / (double)d->tokens_per_micro_batch);
    d->max_steps = cfg->trainer.max_steps != MLSAE_CONFIG_NONE
                       ? cfg->trainer.max_steps
                       : (d->max_micro_batches + accumulate - 1) / accumulate;
    d->dead_steps_threshold =
        mlsae_dead_steps_threshold(cfg->autoencoder.dead_tokens_threshold,
                                   cfg->data.batch_size * cfg->data.max_length, (int)accumulate);
    d->log_every_n_steps =
        cfg->trainer.log_every_n_steps != MLSAE_CONFIG_NONE ? cfg->trainer.log_every_n_steps : 50;
    d->limit_test_batches = d->max_micro_batches;
}

/* ---- help ------------------------------------------------------------------- */

void mlsae_run_config_print_help(FILE *out)
{
    size_t count;
    const mlsae_option *opts = mlsae_run_config_options(&count);
    fprintf(out, "Run options (YAML key = long flag; '-' and '_' are interchangeable; the\n"
                 "last component alone also works, e.g. --k for --autoencoder.k):\n");
    const char *section = NULL;
    size_t section_len = 0;
    for (size_t i = 0; i < count; i++) {
        const mlsae_option *o = &opts[i];
        const char *dot = strchr(o->key, '.');
        size_t len = dot ? (size_t)(dot - o->key) : 0;
        if (!section || len != section_len || strncmp(section, o->key, len) != 0) {
            section = o->key;
            section_len = len;
            if (len) fprintf(out, "\n  %.*s:\n", (int)len, o->key);
            else fprintf(out, "\n  top level:\n");
        }
        char flags[256];
        int w = snprintf(flags, sizeof flags, "--%s %s", o->key, o->metavar);
        const char *p = o->aliases;
        while (*p && w > 0 && (size_t)w < sizeof flags) {
            while (*p == ' ') p++;
            const char *end = p;
            while (*end && *end != ' ') end++;
            if (end > p)
                w += snprintf(flags + w, sizeof flags - (size_t)w, ", %s%.*s",
                              end - p == 1 ? "-" : "--", (int)(end - p), p);
            p = end;
        }
        fprintf(out, "    %s\n        %s [default: %s]\n", flags, o->help, o->default_text);
    }
}
