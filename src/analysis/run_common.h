/* Pieces the analysis runners share (src/analysis only). */
#ifndef MLSAE_ANALYSIS_RUN_COMMON_H
#define MLSAE_ANALYSIS_RUN_COMMON_H

#include "analysis/analysis.h"
#include "analysis/run.h"
#include "pipeline/session.h"
#include "pipeline/stream.h"
#include "sae/mlsae.h"

/* The file name stem of a derived artefact as the reference names it:
 * rename(repo id, suffix) for a repo id (its owner kept, '/' -> '-'),
 * rename(directory name, suffix) for a directory. */
int analysis_artefact_stem(const mlsae_ckpt_source *ckpt, const char *suffix, char *out,
                           size_t n, mlsae_error *err);

/* The model columns of a session + SAE. */
void analysis_model_of(const mlsae_run_config *cfg, const mlsae_session *s, const mlsae_sae *sae,
                       mlsae_analysis_model *m);

/* Record out_dir/name as the next file of res (its path in res->files);
 * returns that path. */
const char *analysis_add_file(mlsae_analysis_result *res, const char *out_dir, const char *name,
                              mlsae_error *err);
/* Whether out_dir/name can be written when the run ends (core/atomic_file.h's
 * mlsae_check_output_file): checked before a stream, so that a directory in
 * the file's place fails at once instead of after the whole dataset. */
int analysis_check_output(const char *out_dir, const char *name, mlsae_error *err);
/* Remove every file recorded in res (after a later failure). */
void analysis_remove_files(mlsae_analysis_result *res);

/* After the stream: merge this rank's partial results into rank 0's
 * (doc/scaling.md); called on every rank. */
typedef int (*analysis_reduce_fn)(void *ctx, mlsae_error *err);

/* Stream cfg's data through the session and sae into consume, each rank of
 * the MPI world on its share of the batches (pipeline/stream.h), progress
 * (rank 0 only) under label; then reduce (NULL: none). res gets the
 * batches, tokens and seconds of the whole stream. Returns 1 on the rank
 * that writes the outputs (rank 0), 0 on the others, -1 on error (err
 * set). */
int analysis_stream(const mlsae_run_config *cfg, mlsae_session *s, mlsae_sae *sae,
                    FILE *progress, const char *label, mlsae_stream_consumer consume, void *ctx,
                    analysis_reduce_fn reduce, mlsae_analysis_result *res, mlsae_error *err);

#endif
