/* A short whole demo run (mlsae_demo, 2048 training and 512 test tokens):
 * its test CSV is <out>/test_<SAE>.csv, where `mlsae report` and
 * `mlsae figures` look for it (mlsae test's default name), and its progress
 * ends the test with one final line. */
#include "config.h"
#include "demo/demo.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static size_t count(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
    return n;
}

int main(void)
{
    mlsae_error err;
    char dir[4200], want[4400];
    snprintf(dir, sizeof dir, "%s/demo", tu_tmpdir());
    mlsae_demo_options opt = {0};
    opt.out_dir = dir;
    opt.threads = 2;
    opt.train_tokens = 2048;
    opt.test_tokens = 512;
    FILE *log = tmpfile();
    if (!log) TU_DIE("tmpfile");
    mlsae_demo_summary sum;
    if (mlsae_demo(&opt, log, &sum, &err)) TU_DIE("demo: %s", err.msg);
    snprintf(want, sizeof want, "%s/test_mlsae-model-x8-k16.csv", dir);
    CHECKF(strcmp(sum.test_csv, want) == 0, "test CSV %s, expected %s", sum.test_csv, want);
    struct stat sb;
    CHECKF(stat(want, &sb) == 0 && sb.st_size > 0, "%s not written", want);
    snprintf(want, sizeof want, "%s/test.csv", dir);
    CHECKF(stat(want, &sb) != 0, "%s written", want);

    fflush(log);
    long n = ftell(log);
    rewind(log);
    char *text = calloc((size_t)n + 1, 1);
    if (!text || fread(text, 1, (size_t)n, log) != (size_t)n) TU_DIE("reading the log");
    CHECKF(count(text, "\ntest 100.0%") == 1, "final test line %zu times:\n%s",
           count(text, "\ntest 100.0%"), text);
    CHECKF(count(text, "\nvalidate 100.0%") == 1, "final validate line %zu times",
           count(text, "\nvalidate 100.0%"));
    free(text);
    fclose(log);
    return tu_finish("test_demo_run");
}
