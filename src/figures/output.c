#include "config.h"
#include "figures/figures.h"

#include <stdio.h>
#include <unistd.h>

int mlsae_fig_write(mlsae_plot *p, const mlsae_csv *csv, const char *base,
                    const mlsae_fig_opts *o, mlsae_error *err)
{
    if (o->sink) return o->sink(o->sink_ctx, base, p, csv, err);
    char path[4200];
    snprintf(path, sizeof path, "%s.csv", base);
    if (csv && mlsae_csv_save(csv, path, err) != 0) return -1;
    if (p && o->formats && mlsae_plot_save(p, base, o->formats, o->dpi, err) != 0) {
        if (csv) unlink(path);
        return -1;
    }
    return 0;
}
