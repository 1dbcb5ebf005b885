/* Reading documents from text datasets (SPEC §3), in a fixed order:
 *  - JSON Lines with a "text" string field (the Pile format; other fields are
 *    ignored; blank lines are skipped), plain (.jsonl, .json) or
 *    zstd-compressed (.jsonl.zst, .json.zst, .zst), streamed;
 *  - plain text files (.txt): one document per file;
 *  - directories (their dataset files, sorted by name, not recursive) and
 *    glob patterns (sorted matches) of those.
 * Sources are read in the order given.
 */
#ifndef MLSAE_DATASET_DATASET_H
#define MLSAE_DATASET_DATASET_H

#include <stddef.h>
#include <stdint.h>
#include "core/status.h"

typedef struct mlsae_dataset mlsae_dataset;

typedef struct mlsae_doc {
    const char *text;  /* UTF-8 as stored (may hold NUL bytes); valid until the next call */
    size_t len;        /* bytes */
    uint64_t index;    /* 0-based position of the document in the whole dataset */
    const char *file;  /* where it came from, and its line (1-based; 0 for .txt) */
    uint64_t line;
} mlsae_doc;

/* Resolve the sources (files, directories, globs) into a list of files. An
 * unknown file type, a glob without matches or a directory without dataset
 * files is an error. */
int mlsae_dataset_open(const char *const *sources, size_t n_sources, mlsae_dataset **out,
                       mlsae_error *err);
/* The next document: 1, or 0 at the end, or -1 on error (malformed JSON,
 * missing or ill-typed "text", truncated zstd stream: the message names the
 * file and line). */
int mlsae_dataset_next(mlsae_dataset *ds, mlsae_doc *doc, mlsae_error *err);
/* Read past n documents (for resuming). 0, or -1 (also when the data ends
 * first). */
int mlsae_dataset_skip(mlsae_dataset *ds, uint64_t n, mlsae_error *err);
/* Documents returned (or skipped) so far. */
uint64_t mlsae_dataset_position(const mlsae_dataset *ds);
/* Bytes of document text returned so far. */
uint64_t mlsae_dataset_text_bytes(const mlsae_dataset *ds);
/* The resolved file list. */
size_t mlsae_dataset_n_files(const mlsae_dataset *ds);
const char *mlsae_dataset_file(const mlsae_dataset *ds, size_t i);
void mlsae_dataset_close(mlsae_dataset *ds);

#endif
