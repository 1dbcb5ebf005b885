#include "config.h"
#include "cli/run_args.h"
#include "cli/commands.h"
#include "train/sweep.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The checkpoint named on the command line, if any (parsed with the real
 * option table so every spelling of the option counts). */
static int find_resume(int argc, char **argv, char *out, size_t n)
{
    mlsae_run_config *tmp = malloc(sizeof *tmp);
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int found = 0;
    if (tmp && rest) {
        mlsae_error err;
        int n_rest = 0;
        mlsae_run_config_defaults(tmp);
        if (mlsae_run_config_parse_args(tmp, argc, argv, rest, &n_rest, &err) == 0 &&
            tmp->trainer.checkpoint_path[0]) {
            snprintf(out, n, "%s", tmp->trainer.checkpoint_path);
            found = 1;
        }
    }
    free(tmp);
    free(rest);
    return found;
}

/* 1 when the checkpoint directory sits in <out>/checkpoints/. */
static int in_checkpoints_dir(const char *ckpt)
{
    char tmp[MLSAE_CONFIG_STR_MAX];
    snprintf(tmp, sizeof tmp, "%s", ckpt);
    size_t len = strlen(tmp);
    while (len > 1 && tmp[len - 1] == '/') tmp[--len] = '\0';
    char *slash = strrchr(tmp, '/');
    if (!slash) return 0;
    *slash = '\0';
    const char *parent = strrchr(tmp, '/');
    return strcmp(parent ? parent + 1 : tmp, "checkpoints") == 0;
}

/* A resumed run (its run.yaml was read first): the options given now may
 * change only what can change mid-run, and the output goes where the
 * command line says (--out or a --config file), else to the run holding
 * the checkpoint; never to the directory recorded in a copied run.yaml. */
static int resume_checks(const char *cmd, int argc, char **argv, const char *resume,
                         const char *saved_yaml, mlsae_run_config *cfg)
{
    mlsae_run_config *saved = malloc(sizeof *saved), *given = malloc(sizeof *given);
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    mlsae_error err;
    int n_rest = 0, status = 0;
    if (!saved || !given || !rest) {
        status = cli_error(cmd, "out of memory");
        goto done;
    }
    mlsae_run_config_defaults(saved);
    if (mlsae_run_config_load_yaml(saved, saved_yaml, &err) ||
        mlsae_run_config_from_args(given, argc, argv, rest, &n_rest, &err)) {
        status = cli_error(cmd, "%s", err.msg);
        goto done;
    }
    if (!given->trainer.default_root_dir[0]) {
        cfg->trainer.default_root_dir[0] = '\0';
        if (!in_checkpoints_dir(resume) && !mlsae_sweep_is_root(resume)) {
            status = cli_error(cmd, "--resume %s: this checkpoint is not in a run's "
                               "<out>/checkpoints/ directory; give --out DIR for the resumed run's "
                               "output", resume);
            goto done;
        }
    }
    if (mlsae_run_config_reconcile(saved, cfg, resume, &err)) status = cli_error(cmd, "%s", err.msg);
done:
    free(saved);
    free(given);
    free(rest);
    return status;
}

int cli_run_config(const char *cmd, int argc, char **argv, mlsae_run_config *cfg,
                   const char *const *extra, int *extra_seen)
{
    return cli_run_config_base(cmd, argc, argv, NULL, cfg, extra, extra_seen);
}

int cli_run_config_base(const char *cmd, int argc, char **argv, const mlsae_run_config *base,
                        mlsae_run_config *cfg, const char *const *extra, int *extra_seen)
{
    char resume[MLSAE_CONFIG_STR_MAX], saved[MLSAE_CONFIG_STR_MAX + 300];
    char **args = calloc((size_t)argc + 3, sizeof *args);
    char **rest = calloc((size_t)argc + 3, sizeof *rest);
    if (!args || !rest) {
        free(args);
        free(rest);
        return cli_error(cmd, "out of memory");
    }
    int n_args = 0;
    args[n_args++] = argv[0];
    if (find_resume(argc, argv, resume, sizeof resume)) {
        /* "out/" names out: paths joined to it get no "//" */
        for (size_t len = strlen(resume); len > 1 && resume[len - 1] == '/';) resume[--len] = '\0';
        struct stat sb;
        if (stat(resume, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            free(args);
            free(rest);
            return cli_error(cmd, "--resume %s: no checkpoint directory there (a run's "
                             "checkpoints are in OUT/checkpoints/last)", resume);
        }
        snprintf(saved, sizeof saved, "%s/run.yaml", resume);
        if (mlsae_sweep_is_root(resume)) {
            /* a sweep (train/sweep.h): its first member's options; the
             * trainer checks every member's */
            mlsae_sweep_member members[MLSAE_CONFIG_MAX_MEMBERS];
            int n = 0;
            mlsae_error err;
            if (mlsae_sweep_read(resume, members, &n, &err)) {
                free(args);
                free(rest);
                return cli_error(cmd, "%s", err.msg);
            }
            if (snprintf(saved, sizeof saved, "%s/%s/checkpoints/last/run.yaml", resume,
                         members[0].name) >= (int)sizeof saved) {
                free(args);
                free(rest);
                return cli_error(cmd, "--resume %s: path too long", resume);
            }
        }
        if (stat(saved, &sb) == 0) {
            mlsae_error yerr;
            if (mlsae_run_config_check_run_yaml(saved, &yerr)) {
                free(args);
                free(rest);
                return cli_error(cmd, "--resume %s: %s", resume, yerr.msg);
            }
            args[n_args++] = "--config";
            args[n_args++] = saved;
        } else {
            /* not a checkpoint (e.g. the run's own directory): refused, never
             * a fresh run of the default configuration */
            char state[MLSAE_CONFIG_STR_MAX + 32], last[MLSAE_CONFIG_STR_MAX + 32];
            snprintf(state, sizeof state, "%s/training_state.safetensors", resume);
            snprintf(last, sizeof last, "%s/checkpoints/last", resume);
            if (stat(state, &sb) != 0) {
                int is_run = stat(last, &sb) == 0 && S_ISDIR(sb.st_mode);
                free(args);
                free(rest);
                return cli_error(cmd, "--resume %s: not a checkpoint (no run.yaml or "
                                 "training_state.safetensors)%s%s", resume,
                                 is_run ? "; this run's is " : "", is_run ? last : "");
            }
        }
    }
    for (int i = 1; i < argc; i++) args[n_args++] = argv[i];
    mlsae_error err;
    int n_rest = 0, status = 0;
    if (mlsae_run_config_from_args_base(cfg, base, n_args, args, rest, &n_rest, &err) != 0) {
        status = cli_error(cmd, "%s", err.msg);
    } else if (strcmp(cmd, "train") != 0 &&
               (cfg->sweep.n_expansion_factor > 0 || cfg->sweep.n_k > 0)) {
        /* a list is a training sweep (config/run_config.h) */
        status = cli_error(cmd, "option --%s: one value here (several are a sweep of mlsae "
                           "train)", cfg->sweep.n_k > 0 ? "autoencoder.k"
                                                        : "autoencoder.expansion_factor");
    } else if (n_args > argc && resume_checks(cmd, argc, argv, resume, saved, cfg)) {
        status = 1;
    } else {
        for (int i = 0; i < n_rest && !status; i++) {
            int known = 0;
            for (int e = 0; extra && extra[e]; e++)
                if (strcmp(rest[i], extra[e]) == 0) {
                    extra_seen[e] = 1;
                    known = 1;
                }
            if (!known)
                status = cli_error(cmd, "%s '%s' (see 'mlsae %s --help')",
                                   rest[i][0] == '-' ? "unknown option" : "unexpected argument",
                                   rest[i], cmd);
        }
    }
    free(args);
    free(rest);
    return status;
}
