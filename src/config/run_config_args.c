/* Run configuration from command-line options (see run_config.h). */
#include "config.h"
#include "config/run_config.h"

#include <string.h>

/* "--config FILE", "--config=FILE", "-c FILE": *file set, returns the number
 * of argv entries used (0 when argv[i] is not a --config option). */
static int config_flag(int argc, char **argv, int i, const char **file)
{
    const char *a = argv[i];
    if (strncmp(a, "--config=", 9) == 0) {
        *file = a + 9;
        return 1;
    }
    if (strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) {
        *file = i + 1 < argc ? argv[i + 1] : NULL;
        return 2;
    }
    return 0;
}

static int is_bool_word(const char *s)
{
    static const char *words[] = {"true", "false", "yes", "no", "on", "off", "1", "0"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcmp(s, words[i]) == 0) return 1;
    return 0;
}

/* A word that continues a list: not an option ("-3" and "-.5" are values,
 * so that they are refused as values, not taken for unknown options). */
static int list_word(const char *w)
{
    return w[0] != '-' || (w[1] >= '0' && w[1] <= '9') || (w[1] == '.' && w[2] >= '0' && w[2] <= '9');
}

/* The words after an option's value (up to the next option, see list_word):
 * a sweep list for autoencoder.expansion_factor and autoencoder.k (see
 * run_config.h), an error for any other option. *i moves past them. */
static int take_list(mlsae_run_config *cfg, const mlsae_option *opt, const char *flag, int argc,
                     char **argv, int *i, mlsae_error *err)
{
    int64_t *list = NULL;
    int *n = NULL;
    if (strcmp(opt->key, "autoencoder.expansion_factor") == 0) {
        list = cfg->sweep.expansion_factor;
        n = &cfg->sweep.n_expansion_factor;
    } else if (strcmp(opt->key, "autoencoder.k") == 0) {
        list = cfg->sweep.k;
        n = &cfg->sweep.n_k;
    }
    if (n) *n = 0; /* given again: the new value or list replaces the old */
    int j = *i + 1;
    if (j >= argc || !list_word(argv[j])) return 0;
    if (strcmp(opt->key, "model_name") == 0)
        return mlsae_fail(err, "option --%s: several models ('%s', '%s', ...): the SAEs of a sweep "
                          "share one transformer pass, so a sweep trains on one model; run one "
                          "model per command", flag, cfg->model_name, argv[j]);
    if (!list)
        return mlsae_fail(err, "option --%s takes one value, got also '%s' (lists are sweeps, "
                          "allowed only for autoencoder.expansion_factor and autoencoder.k)",
                          flag, argv[j]);
    int64_t *field = (int64_t *)((char *)cfg + opt->offset);
    const int64_t first = *field;
    list[(*n)++] = first;
    for (; j < argc && list_word(argv[j]); j++) {
        char why[512];
        if (*n == MLSAE_CONFIG_MAX_SWEEP)
            return mlsae_fail(err, "option --%s: at most %d values in a sweep list", flag,
                              MLSAE_CONFIG_MAX_SWEEP);
        if (mlsae_run_config_set_text(cfg, opt, argv[j], 0, why, sizeof why) != 0)
            return mlsae_fail(err, "option --%s: %s", flag, why);
        for (int q = 0; q < *n; q++)
            if (list[q] == *field)
                return mlsae_fail(err, "option --%s: %lld is listed twice", flag,
                                  (long long)*field);
        list[(*n)++] = *field;
    }
    *field = first;
    *i = j - 1;
    return 0;
}

int mlsae_run_config_parse_args(mlsae_run_config *cfg, int argc, char **argv, char **rest,
                                int *n_rest, mlsae_error *err)
{
    int kept = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *file;
        int used = config_flag(argc, argv, i, &file);
        if (used) {
            if (!file) return mlsae_fail(err, "option --config needs a file name");
            i += used - 1;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            for (i++; i < argc; i++) {
                if (!rest) return mlsae_fail(err, "unexpected argument '%s'", argv[i]);
                rest[kept++] = argv[i];
            }
            break;
        }
        /* "--name[=value]", or "-x" for one-letter aliases */
        const char *name = NULL;
        if (a[0] == '-' && a[1] == '-' && a[2]) name = a + 2;
        else if (a[0] == '-' && a[1] && a[1] != '-' && (a[2] == '\0' || a[2] == '=')) name = a + 1;
        const mlsae_option *opt = NULL;
        const char *value = NULL;
        int negated = 0;
        char flag[128];
        if (name) {
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            if (len < sizeof flag) {
                memcpy(flag, name, len);
                flag[len] = '\0';
                opt = mlsae_run_config_find_option(flag);
                if (!opt && strncmp(flag, "no-", 3) == 0) {
                    opt = mlsae_run_config_find_option(flag + 3);
                    if (opt && opt->type == MLSAE_OPT_BOOL && !eq) negated = 1;
                    else opt = NULL;
                }
                if (eq) value = eq + 1;
            }
        }
        if (!opt) {
            if (!rest) {
                if (name) return mlsae_fail(err, "unknown option '%s' (see --help)", a);
                return mlsae_fail(err, "unexpected argument '%s'", a);
            }
            rest[kept++] = argv[i];
            continue;
        }
        int explicit_value = value != NULL;
        if (negated) {
            value = "false";
        } else if (!value) {
            explicit_value = 1;
            if (opt->type == MLSAE_OPT_BOOL) {
                /* "--standardize" alone means true; "--standardize false" also works */
                if (i + 1 < argc && is_bool_word(argv[i + 1])) value = argv[++i];
                else {
                    value = "true";
                    explicit_value = 0;
                }
            } else {
                if (i + 1 >= argc) return mlsae_fail(err, "option %s needs a value", a);
                value = argv[++i];
            }
        }
        char why[512];
        /* A command-line value is never "quoted": text that reads as null
         * ("null", "~", "") is null (e.g. --auxk null), where allowed. */
        if (mlsae_run_config_set_text(cfg, opt, value, 0, why, sizeof why) != 0)
            return mlsae_fail(err, "option --%s: %s", flag, why);
        if (explicit_value && take_list(cfg, opt, flag, argc, argv, &i, err)) return -1;
    }
    if (n_rest) *n_rest = kept;
    return 0;
}

int mlsae_run_config_from_args(mlsae_run_config *cfg, int argc, char **argv, char **rest,
                               int *n_rest, mlsae_error *err)
{
    return mlsae_run_config_from_args_base(cfg, NULL, argc, argv, rest, n_rest, err);
}

int mlsae_run_config_from_args_base(mlsae_run_config *cfg, const mlsae_run_config *base,
                                    int argc, char **argv, char **rest, int *n_rest,
                                    mlsae_error *err)
{
    if (base) *cfg = *base;
    else mlsae_run_config_defaults(cfg);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) break;
        const char *file;
        int used = config_flag(argc, argv, i, &file);
        if (!used) continue;
        if (!file) return mlsae_fail(err, "option --config needs a file name");
        if (mlsae_run_config_load_yaml(cfg, file, err) != 0) return -1;
        i += used - 1;
    }
    if (mlsae_run_config_parse_args(cfg, argc, argv, rest, n_rest, err) != 0) return -1;
    return mlsae_run_config_validate(cfg, err);
}
