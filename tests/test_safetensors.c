/* safetensors: round trip, dtype conversion, sharded index, and every kind
 * of bad file SPEC §11 lists, each with a message naming file and tensor. */
#include "config.h"
#include "testutil.h"
#include "core/fp16.h"
#include "core/safetensors.h"

#include <math.h>
#include <string.h>

static char path_buf[4096];
static const char *tmp(const char *name)
{
    snprintf(path_buf, sizeof path_buf, "%s/%s", tu_tmpdir(), name);
    return path_buf;
}

/* Write a raw safetensors file: header JSON + `data_len` bytes of data. */
static void write_raw(const char *path, const char *header, size_t data_len, long hlen_override)
{
    FILE *fp = fopen(path, "wb");
    uint64_t hlen = hlen_override >= 0 ? (uint64_t)hlen_override : strlen(header);
    unsigned char lb[8];
    for (int i = 0; i < 8; i++) lb[i] = (unsigned char)(hlen >> (8 * i));
    fwrite(lb, 1, 8, fp);
    fwrite(header, 1, strlen(header), fp);
    for (size_t i = 0; i < data_len; i++) fputc(0, fp);
    fclose(fp);
}

static void expect_open_error(const char *name, const char *header, size_t data_len,
                              long hlen_override, const char *needle)
{
    const char *p = tmp(name);
    write_raw(p, header, data_len, hlen_override);
    mlsae_safetensors *st = NULL;
    mlsae_error err = {{0}};
    int rc = mlsae_st_open(p, &st, &err);
    CHECKF(rc == -1 && st == NULL, "%s opened but should not", name);
    CHECKF(strstr(err.msg, needle) != NULL, "%s: message '%s' lacks '%s'", name, err.msg, needle);
    CHECKF(strstr(err.msg, name) != NULL, "%s: message '%s' does not name the file", name, err.msg);
    CHECKF(strchr(err.msg, '\n') == NULL, "message is not one line");
    printf("  %s -> %s\n", name, err.msg);
}

int main(void)
{
    mlsae_error err = {{0}};
    /* ---- round trip ---- */
    float a[6] = {1, -2, 3.5f, 0, 1e-3f, -7};
    uint16_t h[4], b[4];
    float hv[4] = {0.5f, -1.25f, 65504.0f, 1e-5f};
    for (int i = 0; i < 4; i++) {
        h[i] = mlsae_f32_to_f16(hv[i]);
        b[i] = mlsae_f32_to_bf16(hv[i]);
    }
    int64_t iv[3] = {0, -5, 1LL << 40};
    mlsae_st_writer *w = mlsae_st_writer_new();
    int64_t s23[2] = {2, 3}, s4[1] = {4}, s3[1] = {3};
    CHECK(mlsae_st_writer_add(w, "a", MLSAE_DT_F32, 2, s23, a, &err) == 0);
    CHECK(mlsae_st_writer_add(w, "h", MLSAE_DT_F16, 1, s4, h, &err) == 0);
    CHECK(mlsae_st_writer_add(w, "b", MLSAE_DT_BF16, 1, s4, b, &err) == 0);
    CHECK(mlsae_st_writer_add(w, "i", MLSAE_DT_I64, 1, s3, iv, &err) == 0);
    CHECK(mlsae_st_writer_add(w, "a", MLSAE_DT_F32, 2, s23, a, &err) == -1);
    CHECK(mlsae_st_writer_metadata(w, "format", "pt", &err) == 0);
    CHECK(mlsae_st_writer_save(w, tmp("rt.safetensors"), &err) == 0);
    mlsae_st_writer_free(w);

    mlsae_safetensors *st = NULL;
    CHECKF(mlsae_st_open(tmp("rt.safetensors"), &st, &err) == 0, "%s", err.msg);
    if (st) {
        CHECK(mlsae_st_count(st) == 4);
        float got[6];
        CHECK(mlsae_st_read_f32(st, "a", 2, s23, got, &err) == 0);
        CHECK(memcmp(got, a, sizeof a) == 0);
        float gh[4], gb[4];
        CHECK(mlsae_st_read_f32(st, "h", 1, s4, gh, &err) == 0);
        CHECK(mlsae_st_read_f32(st, "b", 1, s4, gb, &err) == 0);
        for (int i = 0; i < 4; i++) {
            CHECKF(fabsf(gh[i] - hv[i]) <= 1e-3f * fabsf(hv[i]) + 1e-7f, "f16 %g vs %g", gh[i], hv[i]);
            CHECKF(fabsf(gb[i] - hv[i]) <= 8e-3f * fabsf(hv[i]), "bf16 %g vs %g", gb[i], hv[i]);
        }
        int64_t gi[3];
        CHECK(mlsae_st_read_i64(st, "i", 1, s3, gi, &err) == 0);
        CHECK(memcmp(gi, iv, sizeof iv) == 0);
        CHECK(mlsae_st_metadata(st, "format") && strcmp(mlsae_st_metadata(st, "format"), "pt") == 0);
        /* wrong shape, wrong dtype, missing tensor */
        int64_t s32[2] = {3, 2};
        CHECK(mlsae_st_read_f32(st, "a", 2, s32, got, &err) == -1);
        CHECKF(strstr(err.msg, "'a' has shape [2, 3], expected [3, 2]"), "%s", err.msg);
        CHECK(mlsae_st_read_f32(st, "i", 1, s3, got, &err) == -1);
        CHECKF(strstr(err.msg, "'i' has dtype I64"), "%s", err.msg);
        CHECK(mlsae_st_read_f32(st, "nope", 1, s3, got, &err) == -1);
        CHECKF(strstr(err.msg, "missing tensor 'nope'"), "%s", err.msg);
        int64_t any[2] = {-1, 3};
        CHECK(mlsae_st_expect(st, "a", 2, any, &err) != NULL);
        mlsae_st_close(st);
    }

    /* ---- F16 conversion edge cases ---- */
    CHECK(mlsae_f16_to_f32(0x3c00) == 1.0f);
    CHECK(mlsae_f16_to_f32(0x0001) == 5.9604644775390625e-08f);
    CHECK(mlsae_f16_to_f32(0xfc00) == -INFINITY);
    CHECK(mlsae_f32_to_f16(65520.0f) == 0x7c00);
    CHECK(mlsae_f32_to_f16(5.9604644775390625e-08f) == 0x0001);
    CHECK(mlsae_f32_to_f16(1.0f + 1.0f / 2048) == 0x3c00); /* tie to even */

    /* ---- bad files ---- */
    const char *ok = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    {
        const char *p = tmp("short.safetensors");
        FILE *fp = fopen(p, "wb");
        fwrite("\x10\0\0", 1, 3, fp);
        fclose(fp);
        CHECK(mlsae_st_open(p, &st, &err) == -1);
        CHECKF(strstr(err.msg, "short.safetensors") && strstr(err.msg, "truncated"), "%s", err.msg);
    }
    expect_open_error("hlen.safetensors", ok, 8, 1000000, "header length");
    expect_open_error("trunc.safetensors", ok, 4, -1, "past the end");
    expect_open_error("notjson.safetensors", "{\"x\": [1, 2", 0, -1, "not valid JSON");
    expect_open_error("overlap.safetensors",
                      "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                      12, -1, "overlap");
    expect_open_error("span.safetensors",
                      "{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, -1,
                      "'x'");
    expect_open_error("dtype.safetensors",
                      "{\"x\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, -1,
                      "unknown dtype");
    expect_open_error("neg.safetensors",
                      "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, -1,
                      "data_offsets");
    expect_open_error("array.safetensors", "[1,2,3]", 0, -1, "not a JSON object");
    /* sizes that wrap: 2^61 x 2 elements x 4 bytes = 2^64 -> 0, and siblings
     * (2^62 x 4, one I64 dimension 2^61 x 8, a product past INT64_MAX) */
    expect_open_error("wrap.safetensors",
                      "{\"inputs\":{\"dtype\":\"F32\",\"shape\":[2305843009213693952,1,1,1,2],"
                      "\"data_offsets\":[0,0]}}", 0, -1, "overflows");
    expect_open_error("wrap4.safetensors",
                      "{\"x\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],"
                      "\"data_offsets\":[0,0]}}", 0, -1, "overflows");
    expect_open_error("wrap8.safetensors",
                      "{\"x\":{\"dtype\":\"I64\",\"shape\":[2305843009213693952],"
                      "\"data_offsets\":[0,0]}}", 0, -1, "overflows");
    expect_open_error("numel.safetensors",
                      "{\"x\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],"
                      "\"data_offsets\":[0,0]}}", 0, -1, "invalid shape");
    expect_open_error("bigoff.safetensors",
                      "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],"
                      "\"data_offsets\":[9223372036854775800,9223372036854775807]}}", 8, -1,
                      "'x'");
    /* the data section must be tiled exactly: no gap before the first tensor,
     * none between two, no bytes after the last */
    expect_open_error("gapfirst.safetensors",
                      "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
                      -1, "gap of 4 bytes");
    expect_open_error("gapmid.safetensors",
                      "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}", 16,
                      -1, "'y': gap");
    expect_open_error("tail.safetensors", ok, 9, -1, "1 bytes after the last");
    expect_open_error("tailempty.safetensors", "{}", 3, -1, "3 bytes after the last");
    {
        /* empty tensors anywhere in the order still tile */
        const char *p = tmp("empty_ok.safetensors");
        write_raw(p, "{\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[8,8]},"
                     "\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                     "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}", 8, -1);
        CHECKF(mlsae_st_open(p, &st, &err) == 0, "%s", err.msg);
        if (st) mlsae_st_close(st);
    }

    /* ---- sharded index ---- */
    {
        float x0[2] = {1, 2}, x1[3] = {3, 4, 5};
        int64_t s2[1] = {2};
        char p0[4200], p1[4200], pi[4200];
        snprintf(p0, sizeof p0, "%s/model-00001-of-00002.safetensors", tu_tmpdir());
        snprintf(p1, sizeof p1, "%s/model-00002-of-00002.safetensors", tu_tmpdir());
        snprintf(pi, sizeof pi, "%s/model.safetensors.index.json", tu_tmpdir());
        w = mlsae_st_writer_new();
        mlsae_st_writer_add(w, "w0", MLSAE_DT_F32, 1, s2, x0, &err);
        CHECK(mlsae_st_writer_save(w, p0, &err) == 0);
        mlsae_st_writer_free(w);
        w = mlsae_st_writer_new();
        mlsae_st_writer_add(w, "w1", MLSAE_DT_F32, 1, s3, x1, &err);
        CHECK(mlsae_st_writer_save(w, p1, &err) == 0);
        mlsae_st_writer_free(w);
        FILE *fp = fopen(pi, "w");
        fprintf(fp, "{\"metadata\":{},\"weight_map\":{\"w0\":\"model-00001-of-00002.safetensors\","
                    "\"w1\":\"model-00002-of-00002.safetensors\"}}");
        fclose(fp);
        /* the directory has no model.safetensors, so the index is used */
        CHECKF(mlsae_st_open(tu_tmpdir(), &st, &err) == 0, "%s", err.msg);
        if (st) {
            CHECK(mlsae_st_find(st, "w0") && mlsae_st_find(st, "w1"));
            mlsae_st_close(st);
        }
        CHECKF(mlsae_st_open(pi, &st, &err) == 0, "%s", err.msg);
        if (st) {
            float g1[3];
            CHECK(mlsae_st_read_f32(st, "w1", 1, s3, g1, &err) == 0 && g1[2] == 5);
            mlsae_st_close(st);
        }
        fp = fopen(pi, "w");
        fprintf(fp, "{\"weight_map\":{\"w0\":\"model-00001-of-00002.safetensors\","
                    "\"w9\":\"model-00002-of-00002.safetensors\"}}");
        fclose(fp);
        CHECK(mlsae_st_open(pi, &st, &err) == -1);
        CHECKF(strstr(err.msg, "'w9'"), "%s", err.msg);
        /* one tensor name in two shards is ambiguous */
        w = mlsae_st_writer_new();
        mlsae_st_writer_add(w, "w0", MLSAE_DT_F32, 1, s3, x1, &err);
        CHECK(mlsae_st_writer_save(w, p1, &err) == 0);
        mlsae_st_writer_free(w);
        fp = fopen(pi, "w");
        fprintf(fp, "{\"weight_map\":{\"w0\":\"model-00001-of-00002.safetensors\","
                    "\"w1\":\"model-00002-of-00002.safetensors\"}}");
        fclose(fp);
        CHECK(mlsae_st_open(pi, &st, &err) == -1);
        CHECKF(strstr(err.msg, "'w0' is also in"), "%s", err.msg);
    }
    return tu_finish("test_safetensors");
}
