/* `mlsae report`: one self-contained HTML file about one SAE, to be mailed
 * to a colleague: the checkpoint's configuration, the layer_std statistics,
 * the figures that its inputs allow (dists heatmap and histograms, the
 * decoder cosine histogram, the training curves), each inlined as a
 * base64 PNG beside its numbers' summary, and the test metrics of
 * OUT/test_NAME.csv. Nothing outside the file is referenced. */
#ifndef MLSAE_FIGURES_REPORT_H
#define MLSAE_FIGURES_REPORT_H

#include "figures/jobs.h"

typedef struct mlsae_report_result {
    int n_figures;
    char skipped[2048]; /* "; "-separated sections left out and why */
} mlsae_report_result;

/* Write the report of c->saes[0] to path (atomically). c->opts gives the
 * style and the PNG dpi; c->metrics the training log (NULL: OUT/metrics.jsonl,
 * or metrics.jsonl beside the checkpoint, when present). */
int mlsae_report_write(mlsae_fig_context *c, const char *path, mlsae_report_result *res,
                       mlsae_error *err);

/* Base64 (RFC 4648, with padding) of data into a malloc'd string. */
char *mlsae_base64(const unsigned char *data, size_t n);

#endif
