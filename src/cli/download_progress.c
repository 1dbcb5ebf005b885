#include "config.h"
#include "cli/download_progress.h"

#include <stdio.h>

#include "core/progress.h"
#include "hub/hub.h"

typedef struct download_display {
    mlsae_progress bar;
    int active;
} download_display;

static download_display display;

static void show_download(void *ctx, const char *file, uint64_t done, uint64_t total,
                          mlsae_hub_progress_state state)
{
    download_display *d = ctx;
    if (!d->active) {
        mlsae_progress_options opt;
        mlsae_progress_options_default(&opt);
        opt.unit = "B";
        mlsae_progress_start(&d->bar, stderr, file, 0, total, &opt);
        d->active = 1;
    }
    d->bar.total = total;
    mlsae_progress_update(&d->bar, done);
    if (state != MLSAE_HUB_PROGRESS_RUNNING) {
        mlsae_progress_finish(&d->bar);
        d->active = 0;
    }
}

void cli_download_progress(int on)
{
    display.active = 0;
    mlsae_hub_set_progress(on ? show_download : NULL, on ? &display : NULL);
}
