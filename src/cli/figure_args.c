#include "config.h"
#include "cli/figure_args.h"
#include "cli/commands.h"
#include "core/atomic_file.h"
#include "core/paths.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void cli_figure_args_free(cli_figure_args *a)
{
    (void)a; /* every string points into argv */
}

static int is_option(const char *s)
{
    /* a negative number is a value, not an option */
    return s[0] == '-' && s[1] && !(s[1] >= '0' && s[1] <= '9');
}

static int parse_int(const char *s, int *v)
{
    char *e;
    long x = strtol(s, &e, 10);
    if (e == s || *e || x < 1 || x > 1 << 30) return -1;
    *v = (int)x;
    return 0;
}

static int parse_formats(const char *s, int *formats)
{
    *formats = 0;
    if (strcmp(s, "none") == 0) return 0;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (strcmp(t, "png") == 0) *formats |= MLSAE_FMT_PNG;
        else if (strcmp(t, "pdf") == 0) *formats |= MLSAE_FMT_PDF;
        else if (strcmp(t, "svg") == 0) *formats |= MLSAE_FMT_SVG;
        else return -1;
    }
    return 0;
}

int cli_figure_args_parse(cli_figure_args *a, int argc, char **argv, int allow_kinds,
                          char *msg, size_t msg_n)
{
    memset(a, 0, sizeof *a);
    a->out_dir = "out";
    a->device = "cpu";
    a->dead_threshold = 1e-3;
    a->opts.style = MLSAE_STYLE_LABELLED;
    a->opts.formats = MLSAE_FMT_PNG | MLSAE_FMT_PDF;
    a->opts.dpi = 150;
    a->opts.progress = stderr;
#define FAIL(...) return snprintf(msg, msg_n, __VA_ARGS__), -1
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        /* --opt=value */
        char opt[64];
        const char *inline_value = NULL;
        const char *eq = strchr(s, '=');
        if (is_option(s) && eq && (size_t)(eq - s) < sizeof opt) {
            memcpy(opt, s, (size_t)(eq - s));
            opt[eq - s] = '\0';
            inline_value = eq + 1;
            s = opt;
        }
#define VALUE()                                                                            \
    (inline_value ? inline_value : (i + 1 < argc ? argv[++i] : NULL))
        if (!is_option(s)) {
            int k = mlsae_fig_kind_parse(s);
            if (!allow_kinds) FAIL("unexpected argument '%s'", s);
            if (k < 0) FAIL("unknown figure kind '%s'", s);
            if (a->n_kinds < (int)(sizeof a->kinds / sizeof a->kinds[0])) a->kinds[a->n_kinds++] = k;
        } else if (!strcmp(s, "--checkpoint") || !strcmp(s, "--model_name") ||
                   !strcmp(s, "--expansion_factor") || !strcmp(s, "-k") || !strcmp(s, "--k")) {
            /* lists: every following value up to the next option */
            int n = 0;
            /* ... and not a figure kind: "-k 16 32 dists-heatmap" */
            while (inline_value || (i + 1 < argc && !is_option(argv[i + 1]) &&
                                    mlsae_fig_kind_parse(argv[i + 1]) < 0)) {
                const char *v = inline_value ? inline_value : argv[++i];
                inline_value = NULL;
                n++;
                if (!strcmp(s, "--checkpoint")) {
                    if (a->n_checkpoints == CLI_FIG_MAX_LIST) FAIL("too many --checkpoint values");
                    a->checkpoints[a->n_checkpoints++] = v;
                } else if (!strcmp(s, "--model_name")) {
                    if (a->n_model_names == CLI_FIG_MAX_LIST) FAIL("too many --model_name values");
                    a->model_names[a->n_model_names++] = v;
                } else {
                    int *list = !strcmp(s, "--expansion_factor") ? a->expansion_factors : a->ks;
                    int *cnt = !strcmp(s, "--expansion_factor") ? &a->n_expansion_factors : &a->n_ks;
                    if (*cnt == CLI_FIG_MAX_LIST) FAIL("too many %s values", s);
                    if (parse_int(v, &list[*cnt]) != 0)
                        FAIL("%s: '%s' is not a positive integer", s, v);
                    (*cnt)++;
                }
            }
            if (n == 0) FAIL("%s needs at least one value", s);
        } else if (!strcmp(s, "--tuned_lens")) {
            a->tuned_lens = 1;
            if (inline_value)
                a->tuned_lens = !strcmp(inline_value, "true") || !strcmp(inline_value, "True") ||
                                !strcmp(inline_value, "1");
        } else if (!strcmp(s, "--noninteger")) {
            a->noninteger = 1;
        } else if (!strcmp(s, "--checkpoints") || !strcmp(s, "--out") || !strcmp(s, "--metrics") ||
                   !strcmp(s, "--device") || !strcmp(s, "--style") || !strcmp(s, "--format") ||
                   !strcmp(s, "--dpi") || !strcmp(s, "--prompt") ||
                   !strcmp(s, "--dead_threshold")) {
            const char *v = VALUE();
            if (!v || (!*v && strcmp(s, "--prompt"))) FAIL("%s needs a value", s);
            if (!strcmp(s, "--prompt")) {
                a->prompt = v;
                continue;
            }
            if (!strcmp(s, "--dead_threshold")) {
                char *e;
                a->dead_threshold = strtod(v, &e);
                if (e == v || *e || !(a->dead_threshold >= 0))
                    FAIL("--dead_threshold: '%s' is not a number >= 0", v);
                continue;
            }
            if (!strcmp(s, "--checkpoints")) a->checkpoints_dir = v;
            else if (!strcmp(s, "--out")) a->out_dir = v;
            else if (!strcmp(s, "--metrics")) a->metrics = v;
            else if (!strcmp(s, "--device")) a->device = v;
            else if (!strcmp(s, "--style")) {
                if (!strcmp(v, "paper")) a->opts.style = MLSAE_STYLE_PAPER;
                else if (!strcmp(v, "labelled") || !strcmp(v, "labeled"))
                    a->opts.style = MLSAE_STYLE_LABELLED;
                else FAIL("--style: '%s' is neither labelled nor paper", v);
            } else if (!strcmp(s, "--format")) {
                if (parse_formats(v, &a->opts.formats) != 0)
                    FAIL("--format: '%s' is not a list of png, pdf, svg (or none)", v);
            } else {
                int dpi;
                if (parse_int(v, &dpi) != 0 || dpi > 2400) FAIL("--dpi: '%s' is not in 1..2400", v);
                a->opts.dpi = dpi;
            }
        } else {
            FAIL("unknown option '%s'", argv[i]);
        }
#undef VALUE
    }
    /* --model_name with --checkpoint and no sweep: the checkpoints' model */
    int sweep = a->n_expansion_factors || a->n_ks || (a->n_model_names && !a->n_checkpoints);
    if (sweep && !(a->n_expansion_factors && a->n_ks))
        FAIL("a sweep needs --expansion_factor and -k (and --model_name, default "
             "EleutherAI/pythia-70m-deduped)");
    if (sweep && !a->n_model_names) a->model_names[a->n_model_names++] = "EleutherAI/pythia-70m-deduped";
#undef FAIL
    return 0;
}

int cli_figures_run(const char *cmd, const cli_figure_args *a, FILE *out)
{
    mlsae_fig_sweep sw = {
        .model_names = a->model_names, .n_model_names = a->n_model_names,
        .expansion_factors = a->expansion_factors, .n_expansion_factors = a->n_expansion_factors,
        .ks = a->ks, .n_ks = a->n_ks, .tuned_lens = a->tuned_lens,
        .checkpoints_dir = a->checkpoints_dir, .checkpoints = a->checkpoints,
        .n_checkpoints = a->n_checkpoints, .out_dir = a->out_dir,
    };
    mlsae_fig_sae *saes = NULL;
    int n_saes = 0, status = 0, n_jobs = 0, made_out_dir = 0;
    mlsae_fig_job *jobs = NULL;
    mlsae_error err;
    if (mlsae_fig_sweep_resolve(&sw, &saes, &n_saes, &err) != 0) {
        return cli_error(cmd, "%s", err.msg);
    }
    mlsae_fig_context ctx = {
        .saes = saes, .n_saes = n_saes, .out_dir = a->out_dir, .metrics = a->metrics,
        .noninteger = a->noninteger, .opts = a->opts, .device = a->device,
        .prompt = a->prompt, .dead_threshold = a->dead_threshold,
    };
    if (n_saes == 0 && !a->metrics &&
        !(a->n_kinds == 1 && a->kinds[0] == MLSAE_FIG_TRAIN_CURVES)) {
        status = cli_error(cmd, "no SAE given: --checkpoint DIR, or a sweep (--model_name, "
                           "--expansion_factor, -k); or train-curves --metrics FILE");
        goto done;
    }
    if (mlsae_fig_plan(&ctx, a->kinds, a->n_kinds, &jobs, &n_jobs, &err) != 0) {
        status = cli_error(cmd, "%s", err.msg);
        goto done;
    }
    if (a->n_kinds) {
        /* asked for: every missing input, all at once, and nothing written */
        char msg[1800] = "";
        size_t len = 0;
        int n_missing = 0;
        for (int i = 0; i < n_jobs; i++) {
            if (!jobs[i].missing) continue;
            n_missing++;
            if (len < sizeof msg)
                len += (size_t)snprintf(msg + len, sizeof msg - len, "%s%s: %s", len ? " | " : "",
                                        mlsae_fig_kind_name(jobs[i].kind), jobs[i].missing);
        }
        if (n_missing) {
            status = cli_error(cmd, "missing inputs (%d figure%s): %s", n_missing,
                               n_missing == 1 ? "" : "s", msg);
            goto done;
        }
    }
    /* an output directory made here and left empty by a failure goes again */
    const int had_out_dir = mlsae_is_dir(a->out_dir);
    if (mlsae_mkdir_p(a->out_dir, &err) != 0) {
        status = cli_error(cmd, "%s", err.msg);
        goto done;
    }
    made_out_dir = !had_out_dir;
    int made = 0;
    for (int i = 0; i < n_jobs; i++) {
        if (jobs[i].missing) {
            fprintf(out, "skipped %s: missing %s\n", mlsae_fig_kind_name(jobs[i].kind),
                    jobs[i].missing);
            continue;
        }
        if (mlsae_fig_run(&ctx, &jobs[i], &err) != 0) {
            status = cli_error(cmd, "%s: %s", mlsae_fig_kind_name(jobs[i].kind), err.msg);
            goto done;
        }
        fprintf(out, "%s: %s.*\n", mlsae_fig_kind_name(jobs[i].kind), jobs[i].base);
        made++;
    }
    if (made == 0) status = cli_error(cmd, "no figure could be made (see the skipped inputs above)");
done:
    if (status && made_out_dir) rmdir(a->out_dir); /* only when empty */
    if (ctx.be) mlsae_backend_close(ctx.be);
    mlsae_fig_jobs_free(jobs, n_jobs);
    mlsae_fig_saes_free(saes, n_saes);
    return status;
}
