/* Dataset readers: JSON Lines (plain, zstd streamed in one or several frames
 * without a content size, long lines), .txt files, directories and globs,
 * resumption by skipping, and one-line errors naming file and line for
 * malformed JSON, a missing or ill-typed "text", truncated or corrupt zstd
 * data, unknown file types. Fixture files are written at run time. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zstd.h>

#include "core/atomic_file.h"
#include "testutil.h"
#include "dataset/dataset.h"

static char *path_in(const char *name)
{
    static char buf[8][4096];
    static int slot;
    char *p = buf[slot++ % 8];
    snprintf(p, 4096, "%s/%s", tu_tmpdir(), name);
    return p;
}

static void write_file(const char *name, const void *data, size_t n)
{
    mlsae_error err;
    if (mlsae_write_file_atomic(path_in(name), data, n, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
}

/* zstd with the streaming API (no content size in the header), `frames`
 * frames of roughly equal size. */
static char *compress(const char *src, size_t n, int frames, size_t *out_n)
{
    size_t cap = ZSTD_compressBound(n) + 64 * (size_t)frames, w = 0;
    char *out = malloc(cap);
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    size_t per = n / (size_t)frames + 1;
    for (size_t off = 0; off < n; off += per) {
        size_t k = n - off < per ? n - off : per;
        ZSTD_CCtx_reset(cc, ZSTD_reset_session_only);
        ZSTD_inBuffer in = {src + off, k, 0};
        ZSTD_outBuffer o = {out + w, cap - w, 0};
        /* Feed with e_continue first, as a streaming writer does: the frame
         * header then carries no content size. */
        while (in.pos < in.size) ZSTD_compressStream2(cc, &o, &in, ZSTD_e_continue);
        ZSTD_inBuffer none = {NULL, 0, 0};
        size_t left;
        do {
            left = ZSTD_compressStream2(cc, &o, &none, ZSTD_e_end);
        } while (left != 0 && !ZSTD_isError(left));
        w += o.pos;
    }
    ZSTD_freeCCtx(cc);
    *out_n = w;
    return out;
}

/* Read every document of the sources; returns count, fills texts. */
static int read_all(const char *const *src, size_t n_src, char ***texts, size_t **lens,
                    size_t *count, mlsae_error *err)
{
    mlsae_dataset *ds;
    *count = 0;
    *texts = NULL;
    *lens = NULL;
    if (mlsae_dataset_open(src, n_src, &ds, err) != 0) return -1;
    mlsae_doc doc;
    int r;
    while ((r = mlsae_dataset_next(ds, &doc, err)) == 1) {
        CHECK(doc.index == *count);
        *texts = realloc(*texts, (*count + 1) * sizeof **texts);
        *lens = realloc(*lens, (*count + 1) * sizeof **lens);
        (*texts)[*count] = malloc(doc.len + 1);
        memcpy((*texts)[*count], doc.text, doc.len);
        (*lens)[*count] = doc.len;
        (*count)++;
    }
    mlsae_dataset_close(ds);
    return r;
}

static void free_all(char **texts, size_t *lens, size_t n)
{
    for (size_t i = 0; i < n; i++) free(texts[i]);
    free(texts);
    free(lens);
}

static const char JSONL[] =
    "{\"text\": \"first doc\\nwith two lines\", \"meta\": {\"source\": \"x\"}}\n"
    "{\"meta\": 1, \"text\": \"caf\\u00e9 \\ud83d\\ude00\"}\n"
    "\n"
    "{\"text\": \"\"}\n"
    "{\"text\": \"nul\\u0000inside\"}\n"
    "{\"text\": \"no final newline\"}";
static const char *EXPECT[] = {"first doc\nwith two lines", "caf\xc3\xa9 \xf0\x9f\x98\x80", "",
                               "nul\0inside", "no final newline"};
static const size_t EXPECT_LEN[] = {24, 10, 0, 10, 16};

static void check_expected(const char *const *src, size_t n_src, const char *what)
{
    char **t;
    size_t *l, n;
    mlsae_error err;
    int r = read_all(src, n_src, &t, &l, &n, &err);
    CHECKF(r == 0, "%s: %s", what, err.msg);
    CHECKF(n == 5, "%s: %zu documents", what, n);
    for (size_t i = 0; i < n && i < 5; i++)
        CHECKF(l[i] == EXPECT_LEN[i] && memcmp(t[i], EXPECT[i], l[i]) == 0, "%s: document %zu", what, i);
    free_all(t, l, n);
}

static void test_jsonl_plain_and_zstd(void)
{
    write_file("docs.jsonl", JSONL, sizeof JSONL - 1);
    const char *plain[] = {path_in("docs.jsonl")};
    check_expected(plain, 1, "plain jsonl");
    for (int frames = 1; frames <= 3; frames++) {
        size_t zn;
        char *z = compress(JSONL, sizeof JSONL - 1, frames, &zn);
        CHECK(ZSTD_getFrameContentSize(z, zn) == ZSTD_CONTENTSIZE_UNKNOWN);
        write_file("docs.jsonl.zst", z, zn);
        const char *zsrc[] = {path_in("docs.jsonl.zst")};
        check_expected(zsrc, 1, frames == 1 ? "zstd, one frame" : "zstd, several frames");
        free(z);
    }
}

/* One line much longer than the reader's buffers, compressed. */
static void test_long_lines(void)
{
    size_t n = 3 * 1000 * 1000;
    char *big = malloc(n + 64);
    size_t w = (size_t)sprintf(big, "{\"text\": \"");
    size_t body = n - w - 4;
    for (size_t i = 0; i < body; i++) big[w + i] = (char)('a' + i % 26);
    w += body;
    w += (size_t)sprintf(big + w, "\"}\n");
    w += (size_t)sprintf(big + w, "{\"text\": \"tail\"}\n");
    size_t zn;
    char *z = compress(big, w, 1, &zn);
    write_file("long.jsonl.zst", z, zn);
    const char *src[] = {path_in("long.jsonl.zst")};
    char **t;
    size_t *l, count;
    mlsae_error err;
    CHECKF(read_all(src, 1, &t, &l, &count, &err) == 0, "%s", err.msg);
    CHECK(count == 2 && l[0] == body && t[0][body - 1] == (char)('a' + (body - 1) % 26));
    CHECK(count == 2 && l[1] == 4 && memcmp(t[1], "tail", 4) == 0);
    free_all(t, l, count);

    /* Truncated: cut inside the frame. */
    write_file("cut.jsonl.zst", z, zn / 2);
    const char *cut[] = {path_in("cut.jsonl.zst")};
    int r = read_all(cut, 1, &t, &l, &count, &err);
    CHECKF(r < 0 && strstr(err.msg, "cut.jsonl.zst") && strstr(err.msg, "truncated"),
           "truncated stream: %s", err.msg);
    free_all(t, l, count);
    /* Cut a few bytes short of the end (the frame's last block is incomplete). */
    write_file("cut2.jsonl.zst", z, zn - 3);
    const char *cut2[] = {path_in("cut2.jsonl.zst")};
    r = read_all(cut2, 1, &t, &l, &count, &err);
    CHECKF(r < 0 && strstr(err.msg, "cut2.jsonl.zst") && strstr(err.msg, "truncated"),
           "truncated near the end: %s", err.msg);
    free_all(t, l, count);
    /* Corrupt: garbage after a valid header. */
    for (size_t i = 20; i < zn && i < 400; i++) z[i] ^= 0x5A;
    write_file("bad.jsonl.zst", z, zn);
    const char *bad[] = {path_in("bad.jsonl.zst")};
    r = read_all(bad, 1, &t, &l, &count, &err);
    CHECKF(r < 0 && strstr(err.msg, "bad.jsonl.zst"), "corrupt stream: %s", err.msg);
    free_all(t, l, count);
    free(z);
    free(big);
}

static void expect_error(const char *name, const char *content, const char *needle)
{
    write_file(name, content, strlen(content));
    const char *src[] = {path_in(name)};
    char **t;
    size_t *l, n;
    mlsae_error err = {{0}};
    int r = read_all(src, 1, &t, &l, &n, &err);
    CHECKF(r < 0 && strstr(err.msg, name) && strstr(err.msg, needle) && !strchr(err.msg, '\n'),
           "%s: error '%s' should name the file and '%s'", name, err.msg, needle);
    free_all(t, l, n);
}

static void test_errors(void)
{
    expect_error("malformed.jsonl", "{\"text\": \"a\"}\n{\"text\": \"b\"}\n{\"text\": \"c\n", ":3:");
    expect_error("missing.jsonl", "{\"text\": \"a\"}\n{\"content\": \"b\"}\n", ":2: field 'text': missing");
    expect_error("number.jsonl", "{\"text\": 5}\n", ":1: field 'text': not a string");
    expect_error("array.jsonl", "[\"text\"]\n", ":1: field 'text'");
    mlsae_dataset *ds;
    mlsae_error err;
    write_file("notes.md", "x", 1);
    const char *unknown[] = {path_in("notes.md")};
    CHECK(mlsae_dataset_open(unknown, 1, &ds, &err) != 0 && strstr(err.msg, "notes.md"));
    const char *missing[] = {path_in("nope.jsonl")};
    CHECK(mlsae_dataset_open(missing, 1, &ds, &err) != 0 && strstr(err.msg, "nope.jsonl"));
    const char *noglob[] = {path_in("zz*.jsonl")};
    CHECK(mlsae_dataset_open(noglob, 1, &ds, &err) != 0 && strstr(err.msg, "zz*.jsonl"));
}

static void test_directories_and_globs(void)
{
    mlsae_error err;
    CHECK(mlsae_mkdir_p(path_in("dir"), &err) == 0);
    write_file("dir/b.jsonl", "{\"text\": \"b1\"}\n{\"text\": \"b2\"}\n", 30);
    write_file("dir/a.txt", "whole file A\n", 13);
    write_file("dir/c.txt", "C", 1);
    write_file("dir/README.md", "ignored", 7);
    const char *dir[] = {path_in("dir")};
    char **t;
    size_t *l, n;
    CHECKF(read_all(dir, 1, &t, &l, &n, &err) == 0, "%s", err.msg);
    const char *want[] = {"whole file A\n", "b1", "b2", "C"};
    CHECK(n == 4);
    for (size_t i = 0; i < n && i < 4; i++)
        CHECKF(l[i] == strlen(want[i]) && memcmp(t[i], want[i], l[i]) == 0, "directory doc %zu", i);
    free_all(t, l, n);
    const char *glob[] = {path_in("dir/*.txt"), path_in("dir/b.jsonl")};
    CHECKF(read_all(glob, 2, &t, &l, &n, &err) == 0, "%s", err.msg);
    CHECK(n == 4 && l[0] == 13 && l[1] == 1 && l[2] == 2 && memcmp(t[3], "b2", 2) == 0);
    free_all(t, l, n);

    /* skip + position: resuming at document 2 gives the same documents. */
    mlsae_dataset *ds;
    CHECK(mlsae_dataset_open(dir, 1, &ds, &err) == 0);
    CHECK(mlsae_dataset_skip(ds, 2, &err) == 0 && mlsae_dataset_position(ds) == 2);
    mlsae_doc doc;
    CHECK(mlsae_dataset_next(ds, &doc, &err) == 1 && doc.index == 2 && doc.len == 2 &&
          memcmp(doc.text, "b2", 2) == 0 && doc.line == 2);
    CHECK(mlsae_dataset_skip(ds, 5, &err) != 0);
    mlsae_dataset_close(ds);
}

int main(void)
{
    test_jsonl_plain_and_zstd();
    test_long_lines();
    test_errors();
    test_directories_and_globs();
    return tu_finish("test_dataset");
}
