/* Downloading a model from the Hugging Face hub into the cache (see hub.h
 * for the protocol and the cache layout). */
#include "config.h"
#include "hub/hub.h"
#include "hub/sha256.h"
#include "core/atomic_file.h"
#include "core/signals.h"

#include <curl/curl.h>
#include <jansson.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_ENDPOINT "https://huggingface.co"
#define MAX_FILES 4096    /* shards of one model, and then some */
#define BLOB_NAME_MAX 160 /* as mlsae_hub_headers.linked_etag */

static mlsae_hub_progress_fn progress_fn;
static void *progress_ctx;

void mlsae_hub_set_progress(mlsae_hub_progress_fn fn, void *ctx)
{
    progress_fn = fn;
    progress_ctx = ctx;
}

int mlsae_hub_offline(void)
{
    const char *v = getenv("HF_HUB_OFFLINE");
    return v && (!strcmp(v, "1") || !strcasecmp(v, "on") || !strcasecmp(v, "yes") ||
                 !strcasecmp(v, "true"));
}

/* ---- response headers ---- */

/* [A-Za-z0-9._-]+ not starting with '.': usable as one path component. */
static int is_safe_name(const char *s)
{
    if (!*s || *s == '.') return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-') return 0;
    return 1;
}

/* A relative path of safe components (a repo file such as "model.safetensors"
 * or "onnx/model.onnx"): no empty, "." or ".." component, at most 255 bytes. */
static int is_safe_repo_path(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 255) return 0;
    const char *seg = s;
    for (const char *p = s;; p++) {
        if (*p == '/' || !*p) {
            size_t len = (size_t)(p - seg);
            if (!len || (len == 1 && seg[0] == '.') || (len == 2 && !strncmp(seg, "..", 2)))
                return 0;
            if (!*p) return 1;
            seg = p + 1;
        } else if (!isalnum((unsigned char)*p) && !strchr("._-+", *p)) {
            return 0;
        }
    }
}

/* dst = value, control characters as spaces; a value that does not fit: "". */
static void set_field(char *dst, size_t cap, const char *v, size_t n)
{
    if (n >= cap) n = 0;
    for (size_t i = 0; i < n; i++) dst[i] = iscntrl((unsigned char)v[i]) ? ' ' : v[i];
    dst[n] = 0;
}

/* W/"abc" -> abc */
static void normalize_etag(char *s)
{
    const char *p = s;
    if (!strncmp(p, "W/", 2)) p += 2;
    size_t n = strlen(p);
    while (n && *p == '"') p++, n--;
    while (n && p[n - 1] == '"') n--;
    memmove(s, p, n);
    s[n] = 0;
}

void mlsae_hub_headers_parse(mlsae_hub_headers *h, const char *line, size_t len)
{
    while (len && (line[len - 1] == '\r' || line[len - 1] == '\n')) len--;
    if (len >= 5 && !strncmp(line, "HTTP/", 5)) {
        const char *p = memchr(line, ' ', len), *end = line + len;
        int code = 0;
        for (int digits = 0; p && ++p < end && isdigit((unsigned char)*p) && digits < 3; digits++)
            code = code * 10 + (*p - '0');
        h->status = code;
        h->etag[0] = h->error_code[0] = h->error_message[0] = 0;
        return;
    }
    const char *colon = memchr(line, ':', len);
    if (!colon) return;
    size_t name_len = (size_t)(colon - line);
    const char *v = colon + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t')) end--;
    size_t n = (size_t)(end - v);
#define HEADER_IS(name) (name_len == sizeof name - 1 && !strncasecmp(line, name, name_len))
    if (HEADER_IS("X-Repo-Commit") && n) {
        set_field(h->commit, sizeof h->commit, v, n);
    } else if (HEADER_IS("X-Linked-Etag") && n) {
        set_field(h->linked_etag, sizeof h->linked_etag, v, n);
        normalize_etag(h->linked_etag);
    } else if (HEADER_IS("ETag")) {
        set_field(h->etag, sizeof h->etag, v, n);
        normalize_etag(h->etag);
    } else if (HEADER_IS("X-Error-Code")) {
        set_field(h->error_code, sizeof h->error_code, v, n);
    } else if (HEADER_IS("X-Error-Message")) {
        set_field(h->error_message, sizeof h->error_message, v, n);
    }
#undef HEADER_IS
}

const char *mlsae_hub_headers_blob(const mlsae_hub_headers *h)
{
    /* behind an LFS redirect the final ETag is the CDN's, not the blob's */
    const char *name = h->linked_etag[0] ? h->linked_etag : h->etag;
    return is_safe_name(name) ? name : "";
}

/* ---- one download session ---- */

typedef struct fetched_file {
    char *name;                    /* repo path, e.g. "config.json" */
    char blob[BLOB_NAME_MAX + 1];  /* its name in blobs/ */
} fetched_file;

typedef struct download {
    CURL *curl;
    struct curl_slist *request_headers;
    char curl_error[CURL_ERROR_SIZE];
    char *endpoint; /* without a trailing '/' */
    const char *url_type; /* "" (models), "datasets/" or "spaces/" */
    int have_token;
    const char *repo_id, *revision;
    char *repo_dir, *blobs_dir;
    char *url_revision; /* URL-escaped: the revision, then the commit once known */
    char commit[128];   /* "" until the first file names it */
    fetched_file *files;
    size_t n_files;
    /* the file in flight */
    const char *file;
    FILE *fp;
    mlsae_sha256 sha;
    uint64_t bytes;
    int reported; /* progress_fn saw this file */
    mlsae_hub_headers hdr;
} download;

/* printf into a new malloc'd string (NULL: no memory). */
static char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *str_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n < 0 ? NULL : malloc((size_t)n + 1);
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
    download *d = ctx;
    size_t n = size * nmemb;
    if (fwrite(data, 1, n, d->fp) != n) return 0; /* -> CURLE_WRITE_ERROR */
    mlsae_sha256_update(&d->sha, data, n);
    d->bytes += n;
    return n;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *ctx)
{
    download *d = ctx;
    mlsae_hub_headers_parse(&d->hdr, line, size * nmemb);
    return size * nmemb;
}

static int on_progress(void *ctx, curl_off_t dl_total, curl_off_t dl_now, curl_off_t ul_total,
                       curl_off_t ul_now)
{
    (void)ul_total, (void)ul_now;
    download *d = ctx;
    if (mlsae_signals_stop_requested()) return 1; /* -> CURLE_ABORTED_BY_CALLBACK */
    if (progress_fn && dl_now > 0) {
        d->reported = 1;
        progress_fn(progress_ctx, d->file, (uint64_t)dl_now, dl_total > 0 ? (uint64_t)dl_total : 0,
                    MLSAE_HUB_PROGRESS_RUNNING);
    }
    return 0;
}

/* The token: $HF_TOKEN, else the token file ($HF_TOKEN_PATH, else
 * $HF_HOME/token, else ~/.cache/huggingface/token). *token NULL: none. */
static int find_token(char **token, mlsae_error *err)
{
    *token = NULL;
    const char *v = getenv("HF_TOKEN");
    if (v && *v) {
        *token = strdup(v);
    } else {
        char *path = NULL;
        const char *home = getenv("HF_HOME"), *xdg = getenv("XDG_CACHE_HOME"), *user = getenv("HOME");
        if ((v = getenv("HF_TOKEN_PATH")) && *v) path = strdup(v);
        else if (home && *home) path = str_printf("%s/token", home);
        else if (xdg && *xdg) path = str_printf("%s/huggingface/token", xdg);
        else path = str_printf("%s/.cache/huggingface/token", user && *user ? user : ".");
        size_t n;
        mlsae_error ignore;
        if (!path || mlsae_read_file(path, token, &n, &ignore)) *token = NULL;
        free(path);
        if (!*token) return 0;
    }
    if (!*token) return mlsae_fail(err, "out of memory");
    size_t n = strlen(*token);
    while (n && isspace((unsigned char)(*token)[n - 1])) (*token)[--n] = 0;
    for (const char *p = *token; *p; p++)
        if (iscntrl((unsigned char)*p) || *p == ' ') {
            free(*token), *token = NULL;
            return mlsae_fail(err, "the Hugging Face token (HF_TOKEN or the token file) contains "
                                   "a space or control character");
        }
    if (!n) free(*token), *token = NULL;
    return 0;
}

static void download_close(download *d)
{
    if (d->curl) curl_easy_cleanup(d->curl), curl_global_cleanup();
    curl_slist_free_all(d->request_headers);
    if (d->url_revision) curl_free(d->url_revision);
    for (size_t i = 0; i < d->n_files; i++) free(d->files[i].name);
    free(d->files), free(d->endpoint), free(d->repo_dir), free(d->blobs_dir);
}

static int download_open(download *d, const char *cache, const char *repo_type,
                         const char *repo_id, const char *revision, mlsae_error *err)
{
    memset(d, 0, sizeof *d);
    d->repo_id = repo_id;
    d->revision = revision;
    if (strcmp(repo_type, "model") == 0) d->url_type = "";
    else if (strcmp(repo_type, "dataset") == 0) d->url_type = "datasets/";
    else if (strcmp(repo_type, "space") == 0) d->url_type = "spaces/";
    else return mlsae_fail(err, "unknown repository type '%s' (model, dataset or space)", repo_type);
    if (!is_safe_name(revision))
        return mlsae_fail(err, "revision '%s' cannot name a snapshot (use [A-Za-z0-9._-])",
                          revision);
    const char *ep = getenv("HF_ENDPOINT");
    d->endpoint = strdup(ep && *ep ? ep : DEFAULT_ENDPOINT);
    d->repo_dir = mlsae_hub_repo_dir_typed(cache, repo_type, repo_id);
    d->blobs_dir = d->repo_dir ? str_printf("%s/blobs", d->repo_dir) : NULL;
    if (!d->endpoint || !d->blobs_dir) return mlsae_fail(err, "out of memory");
    for (size_t n = strlen(d->endpoint); n && d->endpoint[n - 1] == '/';) d->endpoint[--n] = 0;

    char *token, *auth = NULL;
    if (find_token(&token, err)) return -1;
    d->have_token = token != NULL;
    if (token) auth = str_printf("Authorization: Bearer %s", token);
    free(token);
    if (d->have_token && !auth) return mlsae_fail(err, "out of memory");
    struct curl_slist *l = curl_slist_append(NULL, "User-Agent: mlsae/" PACKAGE_VERSION);
    if (l && auth) l = curl_slist_append(l, auth) ? l : (curl_slist_free_all(l), NULL);
    free(auth);
    d->request_headers = l;

    if (curl_global_init(CURL_GLOBAL_DEFAULT)) return mlsae_fail(err, "cannot initialise libcurl");
    d->curl = curl_easy_init();
    if (!d->curl) {
        curl_global_cleanup();
        return mlsae_fail(err, "cannot initialise libcurl");
    }
    d->url_revision = curl_easy_escape(d->curl, revision, 0);
    if (!l || !d->url_revision) return mlsae_fail(err, "out of memory");
    CURL *c = d->curl;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, l); /* custom Authorization never follows a redirect to another host */
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85 */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https,file");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS | CURLPROTO_FILE));
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L); /* give up after 60 s without data */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, d->curl_error);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, d);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, d);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, d);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    if (mlsae_mkdir_p(d->blobs_dir, err)) return -1;
    return 0;
}

/* A failed transfer: 1 when the file does not exist (err says so), else -1. */
static int transfer_error(download *d, const char *url, CURLcode rc, mlsae_error *err)
{
    const mlsae_hub_headers *h = &d->hdr;
    char detail[400] = "";
    if (h->error_code[0] || h->error_message[0])
        snprintf(detail, sizeof detail, " (%s%s%s)", h->error_code,
                 h->error_code[0] && h->error_message[0] ? ": " : "", h->error_message);
    long status = 0;
    curl_easy_getinfo(d->curl, CURLINFO_RESPONSE_CODE, &status);
    if ((rc == CURLE_HTTP_RETURNED_ERROR && status == 404) || rc == CURLE_FILE_COULDNT_READ_FILE ||
        rc == CURLE_REMOTE_FILE_NOT_FOUND) {
        mlsae_fail(err, "cannot download %s: not found%s%s", url,
                   status == 404 ? " (HTTP 404)" : "", detail);
        return 1;
    }
    if (rc == CURLE_HTTP_RETURNED_ERROR && (status == 401 || status == 403))
        return mlsae_fail(err, "cannot download %s: HTTP %ld%s: the repository is private or gated, "
                          "or does not exist; %s", url, status, detail,
                          d->have_token ? "the token in HF_TOKEN does not give access to it"
                                        : "set HF_TOKEN to a token with access");
    if (rc == CURLE_HTTP_RETURNED_ERROR)
        return mlsae_fail(err, "cannot download %s: HTTP %ld%s", url, status, detail);
    if (rc == CURLE_ABORTED_BY_CALLBACK)
        return mlsae_fail(err, "cannot download %s: interrupted", url);
    if (rc == CURLE_WRITE_ERROR)
        return mlsae_fail_errno(err, "cannot download %s: cannot write to %s", url, d->blobs_dir);
    size_t n = strlen(d->curl_error);
    while (n && isspace((unsigned char)d->curl_error[n - 1])) d->curl_error[--n] = 0;
    return mlsae_fail(err, "cannot download %s: %s (set HF_HUB_OFFLINE=1 to use only the cache)",
                      url, n ? d->curl_error : curl_easy_strerror(rc));
}

/* Learn the commit from the first file's headers, and ask for it from now on. */
static int settle_commit(download *d, mlsae_error *err)
{
    if (d->commit[0]) return 0;
    const char *commit = d->hdr.commit[0] ? d->hdr.commit : d->revision;
    if (!is_safe_name(commit))
        return mlsae_fail(err, "%s: the hub names commit '%s', not a usable directory name",
                          d->repo_id, commit);
    snprintf(d->commit, sizeof d->commit, "%s", commit);
    char *escaped = curl_easy_escape(d->curl, commit, 0);
    if (!escaped) return mlsae_fail(err, "out of memory");
    curl_free(d->url_revision);
    d->url_revision = escaped;
    return 0;
}

/* Name the finished temp file by its blob name and move it into blobs/. */
static int store_blob(download *d, const char *url, const char *tmp, fetched_file *f,
                      mlsae_error *err)
{
    char sha[65];
    mlsae_sha256_hex(&d->sha, sha);
    const char *name = mlsae_hub_headers_blob(&d->hdr);
    if (!*name) name = sha; /* an endpoint without hub headers */
    size_t n = strlen(d->hdr.linked_etag);
    if (n == 64 && strspn(d->hdr.linked_etag, "0123456789abcdef") == 64 &&
        strcmp(d->hdr.linked_etag, sha))
        return mlsae_fail(err, "cannot download %s: the content's SHA-256 %s differs from the "
                          "hub's %s (corrupted transfer; try again)", url, sha,
                          d->hdr.linked_etag);
    snprintf(f->blob, sizeof f->blob, "%s", name);
    char *blob = str_printf("%s/%s", d->blobs_dir, name);
    if (!blob) return mlsae_fail(err, "out of memory");
    int rc = rename(tmp, blob) ? mlsae_fail_errno(err, "cannot rename %s to %s", tmp, blob) : 0;
    free(blob);
    return rc;
}

/* Download one repo file into blobs/ and add it to d->files:
 * 0 done, 1 the file does not exist (err says so), -1 error. */
static int fetch(download *d, const char *file, mlsae_error *err)
{
    if (d->n_files == MAX_FILES) return mlsae_fail(err, "%s: more than %d files", d->repo_id, MAX_FILES);
    fetched_file *grown = realloc(d->files, (d->n_files + 1) * sizeof *grown);
    if (!grown) return mlsae_fail(err, "out of memory");
    d->files = grown;
    fetched_file *f = &d->files[d->n_files];
    memset(f, 0, sizeof *f);
    char *url = str_printf("%s/%s%s/resolve/%s/%s", d->endpoint, d->url_type, d->repo_id,
                           d->url_revision, file);
    char *tmp = str_printf("%s/download-XXXXXX.incomplete", d->blobs_dir);
    f->name = strdup(file);
    int fd = -1, rc = -1;
    if (!url || !tmp || !f->name) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    if ((fd = mkstemps(tmp, (int)strlen(".incomplete"))) < 0 || !(d->fp = fdopen(fd, "wb"))) {
        mlsae_fail_errno(err, "cannot create a file in %s", d->blobs_dir);
        if (fd >= 0) close(fd), unlink(tmp);
        goto done;
    }
    memset(&d->hdr, 0, sizeof d->hdr);
    mlsae_sha256_init(&d->sha);
    d->bytes = 0;
    d->reported = 0;
    d->file = file;
    d->curl_error[0] = 0;
    curl_easy_setopt(d->curl, CURLOPT_URL, url);
    CURLcode cc = curl_easy_perform(d->curl);
    int write_failed = fflush(d->fp) != 0 || fsync(fileno(d->fp)) != 0;
    write_failed |= fclose(d->fp) != 0;
    d->fp = NULL;
    if (cc != CURLE_OK) rc = transfer_error(d, url, cc, err);
    else if (write_failed) mlsae_fail_errno(err, "cannot write %s", tmp);
    else if (settle_commit(d, err) == 0 && store_blob(d, url, tmp, f, err) == 0) rc = 0;
    if (rc) unlink(tmp);
    if (d->reported && progress_fn)
        progress_fn(progress_ctx, file, d->bytes, d->bytes,
                    rc ? MLSAE_HUB_PROGRESS_FAILED : MLSAE_HUB_PROGRESS_DONE);
done:
    if (rc == 0) d->n_files++;
    else free(f->name);
    free(url), free(tmp);
    return rc;
}

/* Append " (text)" to the message in err. */
static int explain(mlsae_error *err, const char *text)
{
    size_t n = strlen(err->msg);
    snprintf(err->msg + n, sizeof err->msg - n, " (%s)", text);
    return -1;
}

/* Every shard named by the index (already fetched, the last file). */
static int fetch_shards(download *d, const char *index, mlsae_error *err)
{
    char *path = str_printf("%s/%s", d->blobs_dir, d->files[d->n_files - 1].blob);
    if (!path) return mlsae_fail(err, "out of memory");
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    free(path);
    if (!root) return mlsae_fail(err, "%s: line %d: %s", index, jerr.line, jerr.text);
    json_t *map = json_object_get(root, "weight_map");
    int rc = 0;
    if (!json_is_object(map) || !json_object_size(map))
        rc = mlsae_fail(err, "%s: 'weight_map' is missing or empty", index);
    const char *key;
    json_t *value;
    size_t first_shard = d->n_files;
    json_object_foreach(map, key, value) {
        if (rc) break;
        const char *shard = json_string_value(value);
        if (!shard || !is_safe_repo_path(shard)) {
            rc = mlsae_fail(err, "%s: weight_map['%s'] is not a file name in the repository",
                            index, key);
            break;
        }
        int seen = 0;
        for (size_t i = first_shard; i < d->n_files && !seen; i++)
            seen = !strcmp(d->files[i].name, shard);
        if (seen) continue;
        int r = fetch(d, shard, err);
        if (r == 1) {
            char why[96];
            snprintf(why, sizeof why, "a shard named by %s", index);
            explain(err, why);
        }
        if (r) rc = -1;
    }
    json_decref(root);
    return rc;
}

/* snapshots/{commit}/{name} -> ../../blobs/{blob} (one more ../ per '/' in name),
 * made under a temp name and renamed into place. */
static int link_file(const char *snap, const fetched_file *f, mlsae_error *err)
{
    size_t depth = 0;
    for (const char *p = f->name; *p; p++) depth += *p == '/';
    char *path = str_printf("%s/%s", snap, f->name);
    char *tmp = str_printf("%s.link-%ld", path ? path : "", (long)getpid());
    char *target = malloc(3 * depth + strlen(f->blob) + 16);
    int rc = -1;
    if (!path || !tmp || !target) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    strcpy(target, "../../");
    for (size_t i = 0; i < depth; i++) strcat(target, "../");
    strcat(strcat(target, "blobs/"), f->blob);
    char *slash = strrchr(path, '/');
    *slash = 0;
    int made = mlsae_mkdir_p(path, err);
    *slash = '/';
    if (made) goto done;
    unlink(tmp);
    if (symlink(target, tmp)) mlsae_fail_errno(err, "cannot create the symbolic link %s", tmp);
    else if (rename(tmp, path)) mlsae_fail_errno(err, "cannot rename %s to %s", tmp, path), unlink(tmp);
    else rc = 0;
done:
    free(path), free(tmp), free(target);
    return rc;
}

/* Link every file into the snapshot, config.json (files[0]) last, then
 * point refs/{revision} at the commit. */
static int publish(download *d, char **snapshot_out, mlsae_error *err)
{
    char *snap = str_printf("%s/snapshots/%s", d->repo_dir, d->commit);
    char *refs = str_printf("%s/refs", d->repo_dir);
    char *ref = str_printf("%s/refs/%s", d->repo_dir, d->revision);
    int rc = -1;
    if (!snap || !refs || !ref) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    for (size_t i = 1; i <= d->n_files; i++)
        if (link_file(snap, &d->files[i % d->n_files], err)) goto done;
    /* A commit asked for by its hash gets no ref, as huggingface_hub does. */
    int by_hash = mlsae_hub_is_commit(d->revision) && strcmp(d->revision, d->commit) == 0;
    if (!by_hash && (mlsae_mkdir_p(refs, err) ||
                     mlsae_write_file_atomic(ref, d->commit, strlen(d->commit), err)))
        goto done;
    *snapshot_out = snap;
    snap = NULL;
    rc = 0;
done:
    free(snap), free(refs), free(ref);
    return rc;
}

int mlsae_hub_download_model(const char *cache, const char *repo_id, const char *revision,
                             char **snapshot_out, mlsae_error *err)
{
    *snapshot_out = NULL;
    download d;
    int rc = download_open(&d, cache, "model", repo_id, revision, err);
    if (rc == 0) {
        rc = fetch(&d, "config.json", err);
        if (rc == 1) explain(err, "no model repository with a config.json at this revision");
    }
    /* The weights: the first of these the repository has (transformers' order). */
    static const char *const weights[][2] = {
        {"model.safetensors", NULL}, {"model.safetensors.index.json", "index"},
        {"pytorch_model.bin", NULL}, {"pytorch_model.bin.index.json", "index"}};
    for (size_t i = 0; rc == 0 && i < sizeof weights / sizeof weights[0]; i++) {
        rc = fetch(&d, weights[i][0], err);
        if (rc == 0 && weights[i][1]) rc = fetch_shards(&d, weights[i][0], err);
        if (rc == 1 && i + 1 < sizeof weights / sizeof weights[0]) {
            rc = 0;
            continue;
        }
        if (rc == 1)
            explain(err, "the repository has none of model.safetensors, "
                         "model.safetensors.index.json, pytorch_model.bin and its index");
        break;
    }
    if (rc == 0 && (rc = fetch(&d, "tokenizer.json", err)) == 1) rc = 0; /* optional */
    if (rc == 0) rc = publish(&d, snapshot_out, err);
    if (rc && d.repo_dir) { /* leave no empty directories behind */
        if (d.blobs_dir) rmdir(d.blobs_dir);
        rmdir(d.repo_dir);
    }
    download_close(&d);
    return rc ? -1 : 0;
}

int mlsae_hub_download_files(const char *cache, const char *repo_type, const char *repo_id,
                             const char *revision, const char *const *files, size_t n_files,
                             char **snapshot_out, mlsae_error *err)
{
    *snapshot_out = NULL;
    if (n_files == 0) return mlsae_fail(err, "%s: no files to download", repo_id);
    download d;
    int rc = download_open(&d, cache, repo_type, repo_id, revision, err);
    for (size_t i = 0; rc == 0 && i < n_files; i++) {
        if (!is_safe_repo_path(files[i]))
            rc = mlsae_fail(err, "%s: '%s' is not a file name in the repository", repo_id, files[i]);
        else if ((rc = fetch(&d, files[i], err)) == 1)
            rc = -1; /* every file is required; err names it */
    }
    if (rc == 0) rc = publish(&d, snapshot_out, err);
    if (rc && d.repo_dir) {
        if (d.blobs_dir) rmdir(d.blobs_dir);
        rmdir(d.repo_dir);
    }
    download_close(&d);
    return rc ? -1 : 0;
}
