/* Opening an input file without trusting its type.
 *
 * A path given as input may name a FIFO, a socket, a device or a directory.
 * open(2) on a FIFO blocks until a writer appears, so checking the type
 * first with stat and then opening leaves a window, and checking after a
 * plain open is too late. These open with O_NONBLOCK (which returns at once
 * for a FIFO), check the type on the descriptor itself (fstat), and only
 * then switch back to blocking reads. Readers of dataset shards, models,
 * tokenizers, configurations and checkpoints accept regular files only;
 * allow_stream also admits FIFOs, pipes and character devices (standard
 * input given on purpose, e.g. `mlsae tokenize -`). */
#ifndef MLSAE_CORE_INPUT_FILE_H
#define MLSAE_CORE_INPUT_FILE_H

#include <stdio.h>
#include "core/status.h"

/* A read-only descriptor, or -1 with err ("PATH: not a regular file (a
 * FIFO)", "PATH: cannot open: ..."). */
int mlsae_open_input(const char *path, int allow_stream, mlsae_error *err);
/* "a FIFO", "a directory", ... for a st_mode that is not a regular file. */
const char *mlsae_file_type_name(unsigned mode);
/* The same as a FILE * ("rb"); NULL with err. */
FILE *mlsae_fopen_input(const char *path, int allow_stream, mlsae_error *err);

#endif
