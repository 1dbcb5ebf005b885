/* Resolving `--model NAME` (SPEC §8): a local directory, or a Hugging Face
 * repo id "org/name" found in the standard hub cache
 *   $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub,
 *   else ~/.cache/huggingface/hub
 * as models--org--name/snapshots/<commit>/, the commit read from refs/main (or the
 * only snapshot when there are no refs at all), or from refs/<revision>. A repo that is not cached is downloaded
 * into the cache (hub_download.c) unless HF_HUB_OFFLINE is set, in which
 * case it is a one-line error naming the directory to fill. */
#ifndef MLSAE_HUB_HUB_H
#define MLSAE_HUB_HUB_H

#include <stddef.h>
#include <stdint.h>
#include "core/status.h"

/* The hub cache directory in effect (malloc'd), from the environment. */
char *mlsae_hub_cache_dir(void);

/* {cache}/models--org--name for repo id "org/name" (malloc'd; NULL: no memory). */
char *mlsae_hub_repo_dir(const char *cache, const char *repo_id);
/* The same for a repository type: "model", "dataset" or "space" ({type}s--org--name). */
char *mlsae_hub_repo_dir_typed(const char *cache, const char *repo_type, const char *repo_id);

/* Look repo_id up in the cache only (never downloads): 0 and *dir_out (the
 * snapshot holding config.json, malloc'd); 1 when not cached, with
 * *where_out (may be NULL) the directory to fill; -1 on error. */
int mlsae_hub_find_cached(const char *repo_id, char **dir_out, char **where_out,
                          mlsae_error *err);

/* Look repo_id up in the cache only (never downloads), at main: 0 and
 * *dir_out (the snapshot holding config.json, malloc'd); 1 when not cached,
 * with *where_out (may be NULL) the directory to fill; -1 on error. */
int mlsae_hub_find_cached(const char *repo_id, char **dir_out, char **where_out,
                          mlsae_error *err);

/* *dir_out: a malloc'd path to a directory holding config.json. */
int mlsae_model_resolve(const char *name, char **dir_out, mlsae_error *err);
/* The same without downloading: 0 with *dir_out, 1 when the model is not
 * available locally (not cached), -1 on an error. */
int mlsae_model_find_local(const char *name, char **dir_out, mlsae_error *err);

/* The same at a revision (NULL or "": main): a branch or tag is looked up
 * as refs/{rev} -> commit -> snapshots/{commit}/ (the layout
 * huggingface_hub writes), a 40-hex-digit commit hash as snapshots/{rev}/
 * directly; either is downloaded at that revision when not cached (and not
 * offline). A local directory accepts only main. Revisions are
 * [A-Za-z0-9._-], not starting with '.' (Pythia's step0 ... step143000). */
int mlsae_model_resolve_revision(const char *name, const char *rev, char **dir_out,
                                 mlsae_error *err);

/* 0 when rev can name a revision (see above), else -1 with a message. */
int mlsae_hub_check_revision(const char *rev, mlsae_error *err);
/* True for a full commit hash: 40 lower-case hex digits. */
int mlsae_hub_is_commit(const char *rev);

/* An MLSAE checkpoint: a directory as it is, or a repo id (e.g.
 * tim-lawson/mlsae-pythia-70m-deduped-x64-k32-tfm) found in, or downloaded
 * into, the HF cache like a model, at revision rev (NULL: main).
 * *dir_out is malloc'd. */
int mlsae_checkpoint_resolve(const char *ref, const char *rev, char **dir_out, mlsae_error *err);

/* ---- Downloading (hub_download.c) ----
 *
 * The protocol of the hub: GET {endpoint}/{repo_id}/resolve/{revision}/{file}
 * with endpoint $HF_ENDPOINT (default https://huggingface.co), following
 * redirects, "Authorization: Bearer <token>" when $HF_TOKEN (or the token
 * file $HF_TOKEN_PATH, default $HF_HOME/token) is set. The response headers
 * name the commit (X-Repo-Commit) and the blob (X-Linked-Etag for LFS files,
 * else ETag). The file lands in
 *   {repo_dir}/blobs/{etag}                          (temp file + rename)
 *   {repo_dir}/snapshots/{commit}/{file} -> ../../blobs/{etag}
 *   {repo_dir}/refs/{revision}                       (holds the commit)
 * Once the first file names the commit, the others are requested at that
 * commit, so a model is never a mix of two revisions.
 *
 * Endpoints that send no hub headers (a file:// mirror laid out as
 * {endpoint}/{repo_id}/resolve/{revision}/{file}, a plain web server): the
 * commit is the revision string itself and the blob is named by the SHA-256
 * of its content. A 64-hex-digit X-Linked-Etag (an LFS SHA-256) is checked
 * against the content. */

/* True when HF_HUB_OFFLINE is 1, on, yes or true (any case). */
int mlsae_hub_offline(void);

typedef enum mlsae_hub_progress_state {
    MLSAE_HUB_PROGRESS_RUNNING,
    MLSAE_HUB_PROGRESS_DONE,
    MLSAE_HUB_PROGRESS_FAILED, /* after RUNNING calls, when the file failed */
} mlsae_hub_progress_state;

/* Download progress of one repo file: bytes received so far and the total
 * (0 when unknown). Called only once bytes arrive. */
typedef void (*mlsae_hub_progress_fn)(void *ctx, const char *file, uint64_t done,
                                      uint64_t total, mlsae_hub_progress_state state);

/* Where download progress goes (process-wide; fn NULL: nowhere). */
void mlsae_hub_set_progress(mlsae_hub_progress_fn fn, void *ctx);

/* Download the files of a GPT-NeoX model: config.json, the first weights
 * the repository has of model.safetensors, model.safetensors.index.json,
 * pytorch_model.bin, pytorch_model.bin.index.json (an index with every
 * shard it names) and
 * tokenizer.json when the repo has one. config.json is linked into the
 * snapshot last, and refs/{revision} written after it, so an interrupted
 * download never looks cached; a revision given as a commit hash writes
 * no ref (huggingface_hub does not either). *snapshot_out: the malloc'd snapshot
 * directory. Errors are one line naming the URL (never the token). */
int mlsae_hub_download_model(const char *cache, const char *repo_id, const char *revision,
                             char **snapshot_out, mlsae_error *err);

/* Download the given files (repository paths, e.g. "lens/org/name/params.pt")
 * of a repository of type repo_type ("model", "dataset" or "space"; URLs
 * {endpoint}/{datasets/|spaces/}{repo_id}/resolve/{revision}/{file}) into
 * the cache as above, files[0] linked into the snapshot last and the ref
 * after it. Every file is required. *snapshot_out: the snapshot directory. */
int mlsae_hub_download_files(const char *cache, const char *repo_type, const char *repo_id,
                             const char *revision, const char *const *files, size_t n_files,
                             char **snapshot_out, mlsae_error *err);

/* The hub's response headers across one redirect chain. */
typedef struct mlsae_hub_headers {
    int status;              /* code of the latest status line (0: none yet) */
    char commit[128];        /* X-Repo-Commit ("" when absent) */
    char linked_etag[160];   /* X-Linked-Etag, normalized (kept across redirects) */
    char etag[160];          /* ETag of the latest response, normalized */
    char error_code[64];     /* X-Error-Code of the latest response */
    char error_message[256]; /* X-Error-Message of the latest response */
} mlsae_hub_headers;

/* Feed one raw header line (as libcurl hands it: "Name: value\r\n", or a
 * status line "HTTP/1.1 302 Found"). Names are case-insensitive; an ETag is
 * normalized by dropping a W/ prefix and the quotes; a value too long for its
 * field is dropped; control characters become spaces. A status line starts
 * a new response: it clears etag and the error fields. */
void mlsae_hub_headers_parse(mlsae_hub_headers *h, const char *line, size_t len);

/* The blob name the headers give: X-Linked-Etag, else ETag, when it is a
 * safe file name ([A-Za-z0-9._-], not starting with '.'); else "". */
const char *mlsae_hub_headers_blob(const mlsae_hub_headers *h);

#endif
