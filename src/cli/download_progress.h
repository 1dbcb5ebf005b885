/* Model download progress (SPEC §8) on stderr: one progress line per file. */
#ifndef MLSAE_CLI_DOWNLOAD_PROGRESS_H
#define MLSAE_CLI_DOWNLOAD_PROGRESS_H

/* on = 1: route the hub's download progress to stderr; 0: nowhere. */
void cli_download_progress(int on);

#endif
