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
        if (negated) {
            value = "false";
        } else if (!value) {
            if (opt->type == MLSAE_OPT_BOOL) {
                /* "--standardize" alone means true; "--standardize false" also works */
                if (i + 1 < argc && is_bool_word(argv[i + 1])) value = argv[++i];
                else value = "true";
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
