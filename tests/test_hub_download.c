/* Hub downloads (SPEC §8), without the network: SHA-256 against the FIPS
 * 180-4 examples; the header parser on the hub's redirect chains; a file://
 * mirror (no hub headers: commit = revision, blob = SHA-256 of the content);
 * and a local HTTP server on 127.0.0.1 speaking the hub's headers
 * (X-Repo-Commit, ETag, X-Linked-Etag with an LFS redirect, 401/404/500). */
#include "config.h"
#include "hub/hub.h"
#include "hub/sha256.h"
#include "core/atomic_file.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *path_in(const char *dir, const char *name)
{
    static char buf[8][4096];
    static int slot;
    char *b = buf[slot++ % 8];
    snprintf(b, 4096, "%s/%s", dir, name);
    return b;
}

static void write_text(const char *path, const char *text)
{
    mlsae_error err = {{0}};
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    CHECKF(mlsae_mkdir_p(dir, &err) == 0 && mlsae_write_file_atomic(path, text, strlen(text), &err) == 0,
           "%s", err.msg);
}

static void sha_of(const char *text, char hex[65])
{
    mlsae_sha256 s;
    mlsae_sha256_init(&s);
    mlsae_sha256_update(&s, text, strlen(text));
    mlsae_sha256_hex(&s, hex);
}

static void test_sha256(void)
{
    char hex[65];
    sha_of("", hex);
    CHECK(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    sha_of("abc", hex);
    CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    sha_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", hex); /* 448 bits */
    CHECK(!strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
    /* one million 'a', fed in uneven pieces (block boundaries everywhere) */
    char chunk[1024];
    memset(chunk, 'a', sizeof chunk);
    mlsae_sha256 s;
    mlsae_sha256_init(&s);
    size_t left = 1000000;
    for (size_t step = 1; left; step = step % 997 + 13) {
        size_t n = step < left ? step : left;
        mlsae_sha256_update(&s, chunk, n);
        left -= n;
    }
    mlsae_sha256_hex(&s, hex);
    CHECK(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
}

static void feed(mlsae_hub_headers *h, const char *line)
{
    mlsae_hub_headers_parse(h, line, strlen(line));
}

static void test_headers(void)
{
    mlsae_hub_headers h;
    /* a small file: served by the hub itself */
    memset(&h, 0, sizeof h);
    feed(&h, "HTTP/1.1 200 OK\r\n");
    feed(&h, "x-repo-commit: 0123456789abcdef0123456789abcdef01234567\r\n");
    feed(&h, "ETag: \"a1b2c3-d4\"\r\n");
    feed(&h, "\r\n");
    CHECK(h.status == 200);
    CHECK(!strcmp(h.commit, "0123456789abcdef0123456789abcdef01234567"));
    CHECK(!strcmp(mlsae_hub_headers_blob(&h), "a1b2c3-d4"));
    /* an LFS file: the hub's 302 names the blob, the CDN's ETag is not it */
    memset(&h, 0, sizeof h);
    feed(&h, "HTTP/2 302\r\n");
    feed(&h, "X-Repo-Commit:   c0ffee  \r\n");
    feed(&h, "X-Linked-Etag: W/\"5a3c\"\r\n");
    feed(&h, "etag: W/\"not-the-blob\"\r\n");
    feed(&h, "Location: https://cdn.example/x?sig=1\r\n");
    feed(&h, "HTTP/2 200\r\n");
    feed(&h, "ETag: \"cdn-etag\"\r\n");
    CHECK(h.status == 200);
    CHECK(!strcmp(h.commit, "c0ffee"));
    CHECK(!strcmp(h.linked_etag, "5a3c") && !strcmp(h.etag, "cdn-etag"));
    CHECK(!strcmp(mlsae_hub_headers_blob(&h), "5a3c"));
    /* an error response, then a new response clears the error fields */
    memset(&h, 0, sizeof h);
    feed(&h, "HTTP/1.1 404 Not Found\r\n");
    feed(&h, "X-Error-Code: EntryNotFound\r\n");
    feed(&h, "X-Error-Message: Entry\tnot found\r\n");
    feed(&h, "no colon here\r\n");
    CHECK(h.status == 404 && !strcmp(h.error_code, "EntryNotFound"));
    CHECK(!strcmp(h.error_message, "Entry not found")); /* the tab became a space */
    CHECK(!strcmp(mlsae_hub_headers_blob(&h), ""));
    feed(&h, "HTTP/1.1 200 OK\r\n");
    CHECK(h.status == 200 && !h.error_code[0] && !h.error_message[0]);
    /* unsafe or oversized blob names give "" (the content hash is used) */
    memset(&h, 0, sizeof h);
    feed(&h, "ETag: \"../../etc/passwd\"\r\n");
    CHECK(!strcmp(mlsae_hub_headers_blob(&h), ""));
    feed(&h, "ETag: \".hidden\"\r\n");
    CHECK(!strcmp(mlsae_hub_headers_blob(&h), ""));
    char line[400];
    snprintf(line, sizeof line, "ETag: \"%0300d\"\r\n", 7);
    feed(&h, line);
    CHECK(h.etag[0] == 0);
    /* a linked etag that is unsafe does not fall back to the CDN's ETag */
    feed(&h, "X-Linked-Etag: a/b\r\n");
    feed(&h, "ETag: fine\r\n");
    CHECK(!strcmp(mlsae_hub_headers_blob(&h), ""));
    /* a status line without a code */
    feed(&h, "HTTP/1.1\r\n");
    CHECK(h.status == 0);
}

/* ---- progress recording ---- */
static int n_done, n_failed, n_running;
static uint64_t done_bytes;
static void record_progress(void *ctx, const char *file, uint64_t done, uint64_t total,
                            mlsae_hub_progress_state state)
{
    (void)ctx, (void)total;
    CHECK(file && *file);
    if (state == MLSAE_HUB_PROGRESS_DONE) n_done++, done_bytes += done;
    else if (state == MLSAE_HUB_PROGRESS_FAILED) n_failed++;
    else n_running++;
}

static char *link_target(const char *path)
{
    static char buf[4096];
    ssize_t n = readlink(path, buf, sizeof buf - 1);
    buf[n < 0 ? 0 : n] = 0;
    return buf;
}

static int has_incomplete(const char *blobs)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "ls '%s' 2>/dev/null | grep -c incomplete > /dev/null", blobs);
    return system(cmd) == 0;
}

static const char *CONFIG = "{\"model_type\": \"gpt_neox\"}";
static const char *WEIGHTS = "pretend these are safetensors bytes";

/* The file:// mirror: {hub}/{repo}/resolve/main/{file}. */
static void test_file_mirror(void)
{
    const char *root = tu_tmpdir();
    char hub[4096], cache[4096], endpoint[4200];
    snprintf(hub, sizeof hub, "%s", path_in(root, "hub"));
    snprintf(cache, sizeof cache, "%s", path_in(root, "cache"));
    snprintf(endpoint, sizeof endpoint, "file://%s/", hub); /* a trailing '/' is fine */
    setenv("HF_ENDPOINT", endpoint, 1);
    unsetenv("HF_TOKEN");
    setenv("HF_TOKEN_PATH", path_in(root, "no-token"), 1);
    write_text(path_in(hub, "Org/one/resolve/main/config.json"), CONFIG);
    write_text(path_in(hub, "Org/one/resolve/main/model.safetensors"), WEIGHTS);
    write_text(path_in(hub, "Org/one/resolve/main/tokenizer.json"), "{}");
    mlsae_error err = {{0}};
    char *snap = NULL;
    mlsae_hub_set_progress(record_progress, NULL);
    n_done = n_failed = n_running = 0;
    done_bytes = 0;
    CHECKF(mlsae_hub_download_model(cache, "Org/one", "main", &snap, &err) == 0, "%s", err.msg);
    char repo[4200];
    snprintf(repo, sizeof repo, "%s", path_in(cache, "models--Org--one"));
    CHECK(snap && !strcmp(snap, path_in(repo, "snapshots/main")));
    char sha_cfg[65], sha_w[65], want[200];
    sha_of(CONFIG, sha_cfg);
    sha_of(WEIGHTS, sha_w);
    snprintf(want, sizeof want, "../../blobs/%s", sha_cfg);
    CHECKF(!strcmp(link_target(path_in(snap, "config.json")), want), "%s",
           link_target(path_in(snap, "config.json")));
    snprintf(want, sizeof want, "../../blobs/%s", sha_w);
    CHECK(!strcmp(link_target(path_in(snap, "model.safetensors")), want));
    char *data = NULL, *ref = NULL;
    size_t n;
    CHECK(mlsae_read_file(path_in(snap, "model.safetensors"), &data, &n, &err) == 0 &&
          n == strlen(WEIGHTS) && !memcmp(data, WEIGHTS, n));
    CHECK(mlsae_read_file(path_in(repo, "refs/main"), &ref, &n, &err) == 0 && !strcmp(ref, "main"));
    CHECK(access(path_in(snap, "tokenizer.json"), F_OK) == 0);
    CHECK(!has_incomplete(path_in(repo, "blobs")));
    CHECKF(n_done == 3 && n_failed == 0 && done_bytes == strlen(CONFIG) + strlen(WEIGHTS) + 2,
           "%d files, %llu bytes", n_done, (unsigned long long)done_bytes);
    free(data), free(ref), free(snap);
    mlsae_hub_set_progress(NULL, NULL);

    /* resolve: offline it finds the cache; nothing else is needed */
    setenv("HF_HUB_CACHE", cache, 1);
    setenv("HF_HUB_OFFLINE", "TRUE", 1);
    CHECKF(mlsae_model_resolve("Org/one", &snap, &err) == 0, "%s", err.msg);
    CHECK(snap && !strcmp(snap, path_in(repo, "snapshots/main")));
    free(snap);
    /* offline and not cached: names the directory to fill */
    CHECK(mlsae_model_resolve("Org/two", &snap, &err) == -1);
    CHECKF(strstr(err.msg, path_in(cache, "models--Org--two/snapshots")) &&
           strstr(err.msg, "HF_HUB_OFFLINE") && !strchr(err.msg, '\n'), "%s", err.msg);
    printf("  offline, not cached -> %s\n", err.msg);
    /* online and not cached: resolve downloads (sharded, no tokenizer.json) */
    unsetenv("HF_HUB_OFFLINE");
    write_text(path_in(hub, "Org/two/resolve/main/config.json"), CONFIG);
    write_text(path_in(hub, "Org/two/resolve/main/model.safetensors.index.json"),
               "{\"metadata\": {}, \"weight_map\": {\"a\": \"part-1.safetensors\", "
               "\"b\": \"sub/part-2.safetensors\", \"c\": \"part-1.safetensors\"}}");
    write_text(path_in(hub, "Org/two/resolve/main/part-1.safetensors"), "one");
    write_text(path_in(hub, "Org/two/resolve/main/sub/part-2.safetensors"), "two");
    CHECKF(mlsae_model_resolve("Org/two", &snap, &err) == 0, "%s", err.msg);
    char repo2[4200];
    snprintf(repo2, sizeof repo2, "%s", path_in(cache, "models--Org--two"));
    CHECK(snap && !strcmp(snap, path_in(repo2, "snapshots/main")));
    char sha_two[65];
    sha_of("two", sha_two);
    snprintf(want, sizeof want, "../../../blobs/%s", sha_two);
    CHECKF(snap && !strcmp(link_target(path_in(snap, "sub/part-2.safetensors")), want), "%s",
           link_target(path_in(snap, "sub/part-2.safetensors")));
    CHECK(snap && access(path_in(snap, "part-1.safetensors"), R_OK) == 0);
    CHECK(snap && access(path_in(snap, "model.safetensors.index.json"), R_OK) == 0);
    CHECK(snap && access(path_in(snap, "tokenizer.json"), F_OK) != 0);
    free(snap);

    /* a missing repository: one line naming the URL, nothing left in the cache */
    CHECK(mlsae_model_resolve("Org/absent", &snap, &err) == -1);
    CHECKF(strstr(err.msg, "Org/absent/resolve/main/config.json") && strstr(err.msg, "not found") &&
           !strchr(err.msg, '\n'), "%s", err.msg);
    CHECK(access(path_in(cache, "models--Org--absent"), F_OK) != 0);
    printf("  missing repository -> %s\n", err.msg);
    /* neither weights file */
    write_text(path_in(hub, "Org/noweights/resolve/main/config.json"), CONFIG);
    CHECK(mlsae_hub_download_model(cache, "Org/noweights", "main", &snap, &err) == -1);
    CHECKF(strstr(err.msg, "model.safetensors.index.json") && strstr(err.msg, "none of"), "%s", err.msg);
    /* interrupted download (a shard missing): no snapshot, config.json is not linked */
    write_text(path_in(hub, "Org/bad/resolve/main/config.json"), CONFIG);
    write_text(path_in(hub, "Org/bad/resolve/main/model.safetensors.index.json"),
               "{\"weight_map\": {\"a\": \"gone.safetensors\"}}");
    CHECK(mlsae_hub_download_model(cache, "Org/bad", "main", &snap, &err) == -1);
    CHECKF(strstr(err.msg, "gone.safetensors") && strstr(err.msg, "shard"), "%s", err.msg);
    CHECK(access(path_in(cache, "models--Org--bad/snapshots/main/config.json"), F_OK) != 0);
    CHECK(access(path_in(cache, "models--Org--bad/refs/main"), F_OK) != 0);
    /* an index naming a path outside the snapshot */
    write_text(path_in(hub, "Org/bad/resolve/main/model.safetensors.index.json"),
               "{\"weight_map\": {\"w\": \"../../escape\"}}");
    CHECK(mlsae_hub_download_model(cache, "Org/bad", "main", &snap, &err) == -1);
    CHECKF(strstr(err.msg, "weight_map['w']"), "%s", err.msg);
    write_text(path_in(hub, "Org/bad/resolve/main/model.safetensors.index.json"), "{\"weight_map\": 3");
    CHECK(mlsae_hub_download_model(cache, "Org/bad", "main", &snap, &err) == -1);
    CHECKF(strstr(err.msg, "model.safetensors.index.json"), "%s", err.msg);
    /* a revision that cannot name a directory */
    CHECK(mlsae_hub_download_model(cache, "Org/one", "../x", &snap, &err) == -1);
    CHECKF(strstr(err.msg, "revision"), "%s", err.msg);
    /* a token with a newline is refused (it would forge headers) */
    setenv("HF_TOKEN", "abc\r\nX-Evil: 1", 1);
    CHECK(mlsae_hub_download_model(cache, "Org/one", "main", &snap, &err) == -1);
    CHECKF(strstr(err.msg, "token") && !strstr(err.msg, "abc"), "%s", err.msg);
    unsetenv("HF_TOKEN");
    /* the endpoint is unreachable: the URL and the way to stay offline */
    setenv("HF_ENDPOINT", "http://127.0.0.1:1", 1);
    setenv("NO_PROXY", "*", 1);
    CHECK(mlsae_model_resolve("Org/three", &snap, &err) == -1);
    CHECKF(strstr(err.msg, "http://127.0.0.1:1/Org/three/resolve/main/config.json") &&
           strstr(err.msg, "HF_HUB_OFFLINE"), "%s", err.msg);
    printf("  unreachable endpoint -> %s\n", err.msg);
    unsetenv("HF_HUB_CACHE");
}

/* ---- a local HTTP server with the hub's headers ---- */

typedef struct route {
    const char *path;
    const char *head; /* status line and headers, without Content-Length */
    const char *body;
} route;

static void serve(int listener, const route *routes, const char *log_path)
{
    for (;;) {
        int c = accept(listener, NULL, NULL);
        if (c < 0) continue;
        char req[8192];
        size_t n = 0;
        while (n < sizeof req - 1) {
            ssize_t r = read(c, req + n, sizeof req - 1 - n);
            if (r <= 0) break;
            n += (size_t)r;
            req[n] = 0;
            if (strstr(req, "\r\n\r\n")) break;
        }
        req[n] = 0;
        char path[1024] = "";
        sscanf(req, "GET %1023s", path);
        const char *auth = strcasestr(req, "\r\nAuthorization: ");
        char auth_value[256] = "-";
        if (auth) sscanf(auth + 17, "%255[^\r]", auth_value);
        FILE *log = fopen(log_path, "a");
        if (log) fprintf(log, "%s %s\n", path, auth_value), fclose(log);
        const route *r = routes;
        while (r->path && strcmp(r->path, path)) r++;
        char resp[4096];
        const char *head = r->path ? r->head : "HTTP/1.1 404 Not Found\r\nX-Error-Code: EntryNotFound";
        const char *body = r->path ? r->body : "";
        int len = snprintf(resp, sizeof resp, "%s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                           head, strlen(body), body);
        if (write(c, resp, (size_t)len) != len) { /* the client went away */ }
        close(c);
    }
}

static void test_http(void)
{
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof addr;
    if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof addr) ||
        listen(listener, 16) || getsockname(listener, (struct sockaddr *)&addr, &alen)) {
        printf("  SKIP the HTTP part: cannot listen on 127.0.0.1\n");
        if (listener >= 0) close(listener);
        return;
    }
    const char *commit = "0123456789abcdef0123456789abcdef01234567";
    char sha_w[65], lfs_head[512], bad_lfs_head[512];
    sha_of(WEIGHTS, sha_w);
    snprintf(lfs_head, sizeof lfs_head,
             "HTTP/1.1 302 Found\r\nLocation: /cdn/blob?sig=s3cret\r\nX-Repo-Commit: %s\r\n"
             "X-Linked-Etag: \"%s\"\r\nETag: W/\"pointer\"", commit, sha_w);
    snprintf(bad_lfs_head, sizeof bad_lfs_head,
             "HTTP/1.1 302 Found\r\nLocation: /cdn/blob?sig=s3cret\r\nX-Repo-Commit: %s\r\n"
             "X-Linked-Etag: \"%064d\"", commit, 0);
    const route routes[] = {
        {"/Org/http/resolve/main/config.json",
         "HTTP/1.1 200 OK\r\nX-Repo-Commit: 0123456789abcdef0123456789abcdef01234567\r\n"
         "ETag: \"cfg-etag-1\"", CONFIG},
        {"/Org/http/resolve/0123456789abcdef0123456789abcdef01234567/model.safetensors", lfs_head, ""},
        {"/Org/corrupt/resolve/main/config.json",
         "HTTP/1.1 200 OK\r\nX-Repo-Commit: 0123456789abcdef0123456789abcdef01234567\r\n"
         "ETag: \"cfg-etag-1\"", CONFIG},
        {"/Org/corrupt/resolve/0123456789abcdef0123456789abcdef01234567/model.safetensors",
         bad_lfs_head, ""},
        {"/cdn/blob?sig=s3cret", "HTTP/1.1 200 OK\r\nETag: \"cdn-etag\"", WEIGHTS},
        {"/Org/private/resolve/main/config.json",
         "HTTP/1.1 401 Unauthorized\r\nX-Error-Code: RepoNotFound\r\n"
         "X-Error-Message: Repository not found", "{\"error\": \"Repository not found\"}"},
        {"/Org/broken/resolve/main/config.json", "HTTP/1.1 500 Internal Server Error", "oops"},
        /* a training-step revision: a branch whose commit differs from main's, holding
         * only pytorch_model.bin */
        {"/Org/http/resolve/step5/config.json",
         "HTTP/1.1 200 OK\r\nX-Repo-Commit: 5555555555555555555555555555555555555555\r\n"
         "ETag: \"cfg-etag-5\"", CONFIG},
        {"/Org/http/resolve/5555555555555555555555555555555555555555/pytorch_model.bin",
         "HTTP/1.1 200 OK\r\nETag: \"bin-etag-5\"", "PK pretend torch archive"},
        {NULL, NULL, NULL},
    };
    const char *root = tu_tmpdir();
    char log_path[4096], cache[4096], endpoint[64];
    snprintf(log_path, sizeof log_path, "%s", path_in(root, "http.log"));
    snprintf(cache, sizeof cache, "%s", path_in(root, "http-cache"));
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", ntohs(addr.sin_port));
    fflush(NULL);
    pid_t server = fork();
    if (server == 0) {
        serve(listener, routes, log_path);
        _exit(0);
    }
    close(listener);
    CHECK(server > 0);
    if (server <= 0) return;
    setenv("HF_ENDPOINT", endpoint, 1);
    setenv("NO_PROXY", "*", 1);
    setenv("HF_TOKEN", "hf_testtoken", 1);
    mlsae_error err = {{0}};
    char *snap = NULL;
    CHECKF(mlsae_hub_download_model(cache, "Org/http", "main", &snap, &err) == 0, "%s", err.msg);
    char repo[4200];
    snprintf(repo, sizeof repo, "%s", path_in(cache, "models--Org--http"));
    CHECK(snap && !strcmp(snap, path_in(repo, "snapshots/0123456789abcdef0123456789abcdef01234567")));
    if (snap) {
        CHECKF(!strcmp(link_target(path_in(snap, "config.json")), "../../blobs/cfg-etag-1"), "%s",
               link_target(path_in(snap, "config.json")));
        char want[128];
        snprintf(want, sizeof want, "../../blobs/%s", sha_w);
        CHECK(!strcmp(link_target(path_in(snap, "model.safetensors")), want));
        CHECK(access(path_in(snap, "tokenizer.json"), F_OK) != 0); /* 404: optional */
    }
    char *ref = NULL, *log = NULL;
    size_t n;
    CHECK(mlsae_read_file(path_in(repo, "refs/main"), &ref, &n, &err) == 0 && !strcmp(ref, commit));
    /* the token went to the hub; files after the first were asked at the commit */
    CHECK(mlsae_read_file(log_path, &log, &n, &err) == 0);
    CHECKF(log && strstr(log, "/Org/http/resolve/main/config.json Bearer hf_testtoken\n") &&
           strstr(log, "/Org/http/resolve/0123456789abcdef0123456789abcdef01234567/model.safetensors Bearer") &&
           strstr(log, "/Org/http/resolve/0123456789abcdef0123456789abcdef01234567/tokenizer.json"),
           "%s", log ? log : "(no log)");
    free(snap), free(ref), free(log);
    snap = ref = log = NULL;

    /* a revision: resolve/step5/, then everything at the commit it names;
     * refs/step5 -> commit, snapshots/<commit>/ beside main's */
    setenv("HF_HUB_CACHE", cache, 1);
    const char *c5 = "5555555555555555555555555555555555555555";
    CHECKF(mlsae_model_resolve_revision("Org/http", "step5", &snap, &err) == 0, "%s", err.msg);
    char want5[4400];
    snprintf(want5, sizeof want5, "%s/snapshots/%s", repo, c5);
    CHECKF(snap && !strcmp(snap, want5), "%s", snap ? snap : err.msg);
    CHECK(mlsae_read_file(path_in(repo, "refs/step5"), &ref, &n, &err) == 0 && !strcmp(ref, c5));
    if (snap) {
        CHECK(!strcmp(link_target(path_in(snap, "pytorch_model.bin")), "../../blobs/bin-etag-5"));
        CHECK(access(path_in(snap, "model.safetensors"), F_OK) != 0);
    }
    CHECK(mlsae_read_file(log_path, &log, &n, &err) == 0);
    CHECKF(log && strstr(log, "/Org/http/resolve/step5/config.json ") &&
           strstr(log, "/Org/http/resolve/5555555555555555555555555555555555555555/model.safetensors ") &&
           strstr(log, "/Org/http/resolve/5555555555555555555555555555555555555555/pytorch_model.bin "),
           "%s", log ? log : "(no log)");
    free(snap), free(ref), free(log);
    snap = ref = log = NULL;
    /* offline, by branch and by commit; main still resolves to its own commit */
    setenv("HF_HUB_OFFLINE", "1", 1);
    CHECKF(mlsae_model_resolve_revision("Org/http", "step5", &snap, &err) == 0 && !strcmp(snap, want5),
           "%s", err.msg);
    free(snap), snap = NULL;
    CHECKF(mlsae_model_resolve_revision("Org/http", c5, &snap, &err) == 0 && !strcmp(snap, want5),
           "%s", err.msg);
    free(snap), snap = NULL;
    CHECKF(mlsae_model_resolve_revision("Org/http", NULL, &snap, &err) == 0 && strstr(snap, commit),
           "%s", err.msg);
    free(snap), snap = NULL;
    CHECK(mlsae_model_resolve_revision("Org/http", "step6", &snap, &err) == -1);
    CHECKF(strstr(err.msg, "at revision step6") && strstr(err.msg, "--revision step6"), "%s", err.msg);
    printf("  offline, revision not cached -> %s\n", err.msg);
    CHECK(mlsae_model_resolve_revision("Org/http", "refs/pr/1", &snap, &err) == -1);
    CHECKF(strstr(err.msg, "revision 'refs/pr/1'"), "%s", err.msg);
    unsetenv("HF_HUB_OFFLINE");
    unsetenv("HF_HUB_CACHE");

    /* 401 (the hub's answer for private, gated and absent repos) */
    CHECK(mlsae_hub_download_model(cache, "Org/private", "main", &snap, &err) == -1);
    CHECKF(strstr(err.msg, "HTTP 401") && strstr(err.msg, "HF_TOKEN") && strstr(err.msg, "RepoNotFound") &&
           strstr(err.msg, "/Org/private/resolve/main/config.json") && !strstr(err.msg, "hf_testtoken"),
           "%s", err.msg);
    printf("  401 -> %s\n", err.msg);
    unsetenv("HF_TOKEN");
    CHECK(mlsae_hub_download_model(cache, "Org/private", "main", &snap, &err) == -1);
    CHECKF(strstr(err.msg, "set HF_TOKEN"), "%s", err.msg);
    CHECK(mlsae_hub_download_model(cache, "Org/broken", "main", &snap, &err) == -1);
    CHECKF(strstr(err.msg, "HTTP 500"), "%s", err.msg);
    CHECK(mlsae_hub_download_model(cache, "Org/missing", "main", &snap, &err) == -1);
    CHECKF(strstr(err.msg, "not found (HTTP 404") && strstr(err.msg, "/Org/missing/resolve/main/config.json"),
           "%s", err.msg);
    /* an LFS blob whose content does not match its SHA-256: refused, no blob kept */
    CHECK(mlsae_hub_download_model(cache, "Org/corrupt", "main", &snap, &err) == -1);
    CHECKF(strstr(err.msg, "SHA-256") && !strstr(err.msg, "s3cret"), "%s", err.msg);
    CHECK(!has_incomplete(path_in(cache, "models--Org--corrupt/blobs")));
    printf("  corrupt LFS blob -> %s\n", err.msg);
    kill(server, SIGTERM);
    waitpid(server, NULL, 0);
}

int main(void)
{
    test_sha256();
    test_headers();
    test_file_mirror();
    test_http();
    return tu_finish("test_hub_download");
}
