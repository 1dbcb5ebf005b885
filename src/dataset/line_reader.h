/* Reading a text file line by line, plain or zstd-compressed (streamed with
 * libzstd's streaming API: memory stays bounded by the longest line, and the
 * frame's content-size field is never relied on). */
#ifndef MLSAE_DATASET_LINE_READER_H
#define MLSAE_DATASET_LINE_READER_H

#include <stddef.h>
#include <stdint.h>
#include "core/status.h"

typedef struct mlsae_line_reader mlsae_line_reader;

/* Open path; it is decompressed when its name ends in ".zst". */
int mlsae_line_reader_open(const char *path, mlsae_line_reader **out, mlsae_error *err);
/* mlsae_line_reader_open takes regular files only (a FIFO given as a shard
 * is an error, not a hang); this also reads FIFOs and pipes (stdin). */
int mlsae_line_reader_open_stream(const char *path, mlsae_line_reader **out, mlsae_error *err);
/* The next line without its "\n" (a final line without one is returned too).
 * *line stays valid until the next call. Returns 1 for a line, 0 at the end,
 * -1 on error (I/O, corrupt or truncated zstd stream: the message names the
 * file and the line). */
int mlsae_line_reader_next(mlsae_line_reader *r, const char **line, size_t *len, mlsae_error *err);
/* Number of the line last returned (1-based). */
uint64_t mlsae_line_reader_line(const mlsae_line_reader *r);
/* Bytes of (decompressed) text returned so far, newlines included. */
uint64_t mlsae_line_reader_bytes(const mlsae_line_reader *r);
void mlsae_line_reader_close(mlsae_line_reader *r);

#endif
