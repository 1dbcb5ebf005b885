#include "config.h"
#include "cli/ckpt_args.h"

#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/download_progress.h"
#include "cli/run_args.h"

int cli_checkpoint_command_start(const char *cmd, int argc, char **argv, int n_configs,
                                 char ***args, mlsae_run_config **cfgs)
{
    *args = malloc(((size_t)argc + 12) * sizeof **args);
    *cfgs = calloc((size_t)(n_configs > 0 ? n_configs : 1), sizeof **cfgs);
    if (!*args || !*cfgs) {
        free(*args);
        free(*cfgs);
        return cli_error(cmd, "out of memory");
    }
    memcpy(*args, argv, (size_t)argc * sizeof **args);
    return 0;
}

int cli_take_value(int *argc, char **argv, const char *flag, const char **value)
{
    size_t fl = strlen(flag);
    for (int i = 1; i < *argc; i++) {
        const char *v = NULL;
        int used = 0;
        if (strcmp(argv[i], flag) == 0 && i + 1 < *argc) {
            v = argv[i + 1];
            used = 2;
        } else if (strncmp(argv[i], flag, fl) == 0 && argv[i][fl] == '=') {
            v = argv[i] + fl + 1;
            used = 1;
        } else if (strcmp(argv[i], flag) == 0) {
            return -1;
        }
        if (used) {
            *value = v;
            for (int j = i; j + used < *argc; j++) argv[j] = argv[j + used];
            *argc -= used;
            return 1;
        }
    }
    return 0;
}

int cli_checkpoint_run_config(const char *cmd, const char *ckpt, const char *rev, int argc,
                              char **argv,
                              mlsae_ckpt_source *src, mlsae_run_config *cfg,
                              const char *const *extra, int *extra_seen)
{
    mlsae_error err;
    int download = mlsae_ckpt_source_is_repo_id(ckpt);
    if (download) cli_download_progress(1);
    int failed = mlsae_ckpt_source_resolve(ckpt, rev, src, &err) != 0;
    if (download) cli_download_progress(0);
    if (failed) return cli_error(cmd, "%s", err.msg);
    /* a -tfm checkpoint's run options go first: the command line overrides them */
    mlsae_run_config *base = malloc(sizeof *base);
    int is_tfm, status;
    if (!base) {
        status = cli_error(cmd, "out of memory");
    } else {
        mlsae_run_config_defaults(base);
        status = mlsae_run_config_apply_checkpoint(base, src->dir, &is_tfm, &err)
                     ? cli_error(cmd, "%s", err.msg)
                     : cli_run_config_base(cmd, argc, argv, base, cfg, extra, extra_seen);
    }
    free(base);
    if (status) mlsae_ckpt_source_free(src);
    return status;
}
