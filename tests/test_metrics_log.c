/* Metrics logs: exact JSON Lines / CSV text, header extension, NaN cells,
 * reopening for append on resume (partial lines and later rows dropped),
 * and one-line errors on corrupt files. */
#include "config.h"
#include "core/metrics_log.h"
#include "core/atomic_file.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path)
{
    char *data = NULL;
    size_t n;
    if (mlsae_read_file(path, &data, &n, NULL) != 0) return NULL;
    return data;
}

static int file_equals(const char *path, const char *want)
{
    char *got = slurp(path);
    int ok = got && strcmp(got, want) == 0;
    if (!ok) fprintf(stderr, "%s:\n--- got ---\n%s--- want ---\n%s", path, got ? got : "(null)", want);
    free(got);
    return ok;
}

static json_t *row3(long long step, double loss, double fvu)
{
    json_t *r = json_object();
    json_object_set_new(r, "step", json_integer(step));
    mlsae_metrics_row_set(r, "loss", loss);
    mlsae_metrics_row_set(r, "fvu", fvu);
    return r;
}

static void write_row(mlsae_metrics_log *log, json_t *row)
{
    mlsae_error err;
    int rc = mlsae_metrics_log_write(log, row, &err);
    CHECKF(rc == 0, "%s", err.msg);
    json_decref(row);
}

static void test_shortest(void)
{
    char buf[64];
    struct { double v; const char *s; } cases[] = {
        {0.1, "0.1"}, {2.0, "2.0"}, {1e-5, "1e-05"}, {1.0 / 3.0, "0.3333333333333333"},
        {1e16, "1e+16"}, {-0.25, "-0.25"}, {0.0, "0.0"}, {NAN, "nan"}, {-INFINITY, "-inf"},
        {0.03125, "0.03125"}, {123456789.0, "123456789.0"},
        /* round numbers whose %g form is exponential: repr writes them fixed */
        {50.0, "50.0"}, {110.0, "110.0"}, {40960.0, "40960.0"}, {1e15, "1000000000000000.0"},
        {1.2345678901234568e17, "1.2345678901234568e+17"}, {1e-4, "0.0001"},
        {0.0001234, "0.0001234"}, {1.5e-5, "1.5e-05"}, {-0.0, "-0.0"},
        {0.30000000000000004, "0.30000000000000004"}, {5e-324, "5e-324"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mlsae_format_double_shortest(cases[i].v, buf, sizeof buf);
        CHECKF(strcmp(buf, cases[i].s) == 0, "%s vs %s", buf, cases[i].s);
    }
    struct { float v; const char *s; } fcases[] = {
        {0.052083332f, "0.052083332"}, {50.0f, "50.0"}, {0.1f, "0.1"}, {1e16f, "1e+16"},
        {3.4028235e38f, "3.4028235e+38"}, {1.5e-5f, "1.5e-05"},
    };
    for (size_t i = 0; i < sizeof fcases / sizeof fcases[0]; i++) {
        mlsae_format_float_shortest(fcases[i].v, buf, sizeof buf);
        CHECKF(strcmp(buf, fcases[i].s) == 0, "float %s vs %s", buf, fcases[i].s);
    }
    json_t *r = json_object();
    CHECK(mlsae_metrics_row_set(r, "a", INFINITY) == 0 && json_is_null(json_object_get(r, "a")));
    CHECK(mlsae_metrics_row_set(r, "b", 0.5) == 0 && json_real_value(json_object_get(r, "b")) == 0.5);
    json_decref(r);
}

static void test_csv(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/train.csv", dir);
    mlsae_error err;
    mlsae_metrics_log *log;
    CHECK(mlsae_metrics_log_open(&log, path, NULL, &err) == 0);
    write_row(log, row3(1, 0.5, NAN));
    write_row(log, row3(2, 0.25, 0.1));
    /* flushed per row: readable before close */
    CHECK(file_equals(path, "step,loss,fvu\n1,0.5,\n2,0.25,0.1\n"));

    /* A new key extends the header; a missing key leaves an empty cell. */
    json_t *r = json_object();
    json_object_set_new(r, "step", json_integer(3));
    json_object_set_new(r, "note", json_string("a,\"b\""));
    mlsae_metrics_row_set(r, "loss", 1.0);
    write_row(log, r);
    CHECK(file_equals(path, "step,loss,fvu,note\n1,0.5,,\n2,0.25,0.1,\n3,1.0,,\"a,\"\"b\"\"\"\n"));

    /* A string with a line break cannot be a CSV cell. */
    r = json_object();
    json_object_set_new(r, "note", json_string("x\ny"));
    CHECK(mlsae_metrics_log_write(log, r, &err) == -1 && strstr(err.msg, "line break"));
    json_decref(r);
    CHECK(mlsae_metrics_log_close(log, &err) == 0);

    /* Simulate a crash mid-row, then resume from the checkpoint at step 2:
     * the partial line and the row of step 3 go, the header stays. */
    FILE *f = fopen(path, "a");
    CHECK(f != NULL);
    if (f) {
        fputs("4,0.7", f);
        fclose(f);
    }
    mlsae_metrics_log_options opt = {.append = 1, .resume_key = "step", .resume_max = 2};
    CHECK(mlsae_metrics_log_open(&log, path, &opt, &err) == 0);
    CHECK(file_equals(path, "step,loss,fvu,note\n1,0.5,,\n2,0.25,0.1,\n"));
    write_row(log, row3(3, 0.125, 0.05));
    CHECK(mlsae_metrics_log_close(log, &err) == 0);
    CHECK(file_equals(path, "step,loss,fvu,note\n1,0.5,,\n2,0.25,0.1,\n3,0.125,0.05,\n"));

    /* Reopen without resume_key: everything kept. */
    opt.resume_key = NULL;
    CHECK(mlsae_metrics_log_open(&log, path, &opt, &err) == 0);
    CHECK(mlsae_metrics_log_close(log, &err) == 0);
    CHECK(file_equals(path, "step,loss,fvu,note\n1,0.5,,\n2,0.25,0.1,\n3,0.125,0.05,\n"));

    /* A row with the wrong number of cells is reported with its line. */
    mlsae_write_file_atomic(path, "a,b\n1,2\n1,2,3\n", 14, NULL);
    CHECK(mlsae_metrics_log_open(&log, path, &opt, &err) == -1);
    CHECKF(strstr(err.msg, "train.csv:3:") != NULL, "%s", err.msg);

    /* append = 0 starts afresh. */
    opt.append = 0;
    CHECK(mlsae_metrics_log_open(&log, path, &opt, &err) == 0);
    write_row(log, row3(1, 2.0, 3.0));
    CHECK(mlsae_metrics_log_close(log, &err) == 0);
    CHECK(file_equals(path, "step,loss,fvu\n1,2.0,3.0\n"));
}

static void test_jsonl(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/train.jsonl", dir);
    mlsae_error err;
    mlsae_metrics_log *log;
    CHECK(mlsae_metrics_log_open(&log, path, NULL, &err) == 0);
    write_row(log, row3(1, 0.5, NAN));
    write_row(log, row3(2, 0.25, 0.125));
    write_row(log, row3(3, 1.0, 2.0));
    CHECK(file_equals(path, "{\"step\":1,\"loss\":0.5,\"fvu\":null}\n"
                            "{\"step\":2,\"loss\":0.25,\"fvu\":0.125}\n"
                            "{\"step\":3,\"loss\":1.0,\"fvu\":2.0}\n"));
    CHECK(mlsae_metrics_log_close(log, &err) == 0);

    FILE *f = fopen(path, "a");
    if (f) {
        fputs("{\"step\":4,\"lo", f);
        fclose(f);
    }
    mlsae_metrics_log_options opt = {.append = 1, .resume_key = "step", .resume_max = 1};
    CHECK(mlsae_metrics_log_open(&log, path, &opt, &err) == 0);
    write_row(log, row3(2, 0.75, 0.5));
    CHECK(mlsae_metrics_log_close(log, &err) == 0);
    CHECK(file_equals(path, "{\"step\":1,\"loss\":0.5,\"fvu\":null}\n"
                            "{\"step\":2,\"loss\":0.75,\"fvu\":0.5}\n"));

    /* A corrupt line in the middle is an error naming the line, and the
     * file is left untouched. */
    const char *bad = "{\"step\":1}\nnot json\n{\"step\":2}\n";
    mlsae_write_file_atomic(path, bad, strlen(bad), NULL);
    CHECK(mlsae_metrics_log_open(&log, path, &opt, &err) == -1);
    CHECKF(strstr(err.msg, "train.jsonl:2:") != NULL, "%s", err.msg);
    CHECK(file_equals(path, bad));

    /* Not an object row. */
    opt.append = 0;
    CHECK(mlsae_metrics_log_open(&log, path, &opt, &err) == 0);
    json_t *arr = json_array();
    CHECK(mlsae_metrics_log_write(log, arr, &err) == -1);
    json_decref(arr);
    CHECK(mlsae_metrics_log_close(log, &err) == 0);

    /* Unwritable location. */
    CHECK(mlsae_metrics_log_open(&log, "/nonexistent-dir/x.jsonl", NULL, &err) == -1);
    CHECK(strstr(err.msg, "/nonexistent-dir/x.jsonl") != NULL);
}

/* An atomic write that cannot create its file names the file asked for,
 * not the temporary beside it. */
static void test_atomic_error_names_file(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/no-such-dir/x.jsonl", dir);
    mlsae_error err;
    CHECK(mlsae_write_file_atomic(path, "1", 1, &err) != 0);
    CHECKF(strncmp(err.msg, path, strlen(path)) == 0 && strstr(err.msg, ".tmp") == NULL &&
               strstr(err.msg, "cannot create") != NULL,
           "message: %s", err.msg);
}

int main(void)
{
    const char *dir = tu_tmpdir();
    test_shortest();
    test_csv(dir);
    test_jsonl(dir);
    test_atomic_error_names_file(dir);
    return tu_finish("test_metrics_log");
}
