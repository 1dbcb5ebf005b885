#include "config.h"
#include "analysis/analysis.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/atomic_file.h"
#include "core/paths.h"

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), m = strlen(tail);
    return n >= m && strcmp(s + n - m, tail) == 0;
}

int mlsae_analysis_rename(const char *name, const char *suffix, char *out, size_t n,
                          mlsae_error *err)
{
    char tail[64];
    snprintf(tail, sizeof tail, "-%s", suffix);
    const char *tfm = strstr(name, "-tfm");
    int w;
    if (ends_with(name, tail)) w = snprintf(out, n, "%s", name);
    else if (ends_with(name, "-tfm"))
        w = snprintf(out, n, "%.*s%s%s", (int)(tfm - name), name, tail, tfm + 4);
    else w = snprintf(out, n, "%s%s", name, tail);
    if (w < 0 || (size_t)w >= n) return mlsae_fail(err, "%s: name too long", name);
    for (char *p = out; *p; p++)
        if (*p == '/') *p = '-';
    return 0;
}

void mlsae_summary_of(const double *v, size_t n, int nan_aware, mlsae_summary *out)
{
    double sum = 0;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!nan_aware || !isnan(v[i])) sum += v[i], m++;
    out->mean = out->var = out->std = out->sem = NAN;
    if (m == 0) return;
    double mean = sum / (double)m, ss = 0;
    for (size_t i = 0; i < n; i++)
        if (!nan_aware || !isnan(v[i])) ss += (v[i] - mean) * (v[i] - mean);
    out->mean = mean;
    size_t dof = nan_aware ? m : m - 1;
    if (dof == 0) return;
    out->var = ss / (double)dof;
    out->std = sqrt(out->var);
    out->sem = out->std / sqrt((double)n);
}

int mlsae_analysis_out_dir(const char *dir, mlsae_error *err)
{
    if (mlsae_mkdir_p(dir, err)) return mlsae_error_prefix(err, "output directory");
    if (access(dir, W_OK | X_OK) != 0)
        return mlsae_fail_errno(err, "%s: output directory is not writable", dir);
    return 0;
}

int mlsae_analysis_path(char *path, size_t n, const char *dir, const char *name,
                        mlsae_error *err)
{
    if (mlsae_path_join(path, n, dir, name) != 0)
        return mlsae_fail(err, "%s/%s: path too long", dir, name);
    return 0;
}
