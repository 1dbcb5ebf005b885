/* The backend registry and the device grammar: plugins found by scanning
 * the directories of MLSAE_PLUGIN_PATH, a plugin of another interface
 * version refused with a reason, a second plugin of the same name ignored,
 * auto taking the best score, NAME:N opening that plugin's device N, and
 * every malformed device string refused with one line. */
#include "config.h"
#include "backend/device_spec.h"
#include "backend/registry.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char problems[4096];
static void collect(void *ctx, const char *line)
{
    (void)ctx;
    strncat(problems, line, sizeof problems - strlen(problems) - 2);
    strcat(problems, "\n");
}

static void test_grammar(void)
{
    mlsae_device_spec s;
    mlsae_error err;
    CHECK(mlsae_device_parse("cpu", &s, &err) == 0 && s.kind == MLSAE_DEVICE_CPU);
    CHECK(mlsae_device_parse("auto", &s, &err) == 0 && s.kind == MLSAE_DEVICE_AUTO);
    CHECK(mlsae_device_parse("opencl", &s, &err) == 0 && s.kind == MLSAE_DEVICE_PLUGIN &&
          strcmp(s.name, "opencl") == 0 && s.index == 0);
    CHECK(mlsae_device_parse("level_zero:12", &s, &err) == 0 && s.index == 12 &&
          strcmp(s.name, "level_zero") == 0);
    const char *bad[] = {"", ":1", "opencl:", "opencl:x", "opencl:-1", "opencl:12345",
                         "OpenCL", "1cl", "cpu:0", "auto:1", "open cl", "opencl:1:2",
                         "a_name_that_is_far_too_long_for_a_backend"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = mlsae_device_parse(bad[i], &s, &err);
        CHECKF(rc == -1 && strstr(err.msg, "unknown device") && !strchr(err.msg, '\n'),
               "'%s' accepted or bad message: %s", bad[i], err.msg);
    }
}

int main(void)
{
    const char *dir = getenv("MLSAE_TEST_PLUGIN_DIR");
    if (!dir) tu_skip("MLSAE_TEST_PLUGIN_DIR is not set (run through make check)");
    test_grammar();
    /* the test plugins come first; the real ones may follow */
    char path[8192];
    snprintf(path, sizeof path, "%s:%s", dir, dir);
    setenv("MLSAE_PLUGIN_PATH", path, 1);

    const mlsae_registry_entry *fake = mlsae_registry_find("fake");
    CHECKF(fake != NULL, "plugin 'fake' not registered from %s", dir);
    CHECK(mlsae_registry_find("fakeold") == NULL);
    mlsae_registry_problems(collect, NULL);
    CHECKF(strstr(problems, "mlsae-fakeold.so: refused (built for backend interface"),
           "old plugin not reported: %s", problems);
    CHECKF(strstr(problems, "mlsae-fakecopy.so: ignored (a plugin of that name"),
           "duplicate name not reported: %s", problems);
    /* a directory listed twice is scanned once */
    int n_fake = 0;
    for (int i = 0; i < mlsae_registry_count(); i++)
        n_fake += strcmp(mlsae_registry_get(i)->name, "fake") == 0;
    CHECK(n_fake == 1);

    char pick[64];
    mlsae_registry_auto(pick, sizeof pick);
    CHECKF(strcmp(pick, "fake:1") == 0, "auto picked %s, expected the GPU-scored fake:1", pick);
    /* a data-parallel rank's slot among the best devices: one best here */
    mlsae_registry_set_auto_slot(3);
    mlsae_registry_auto(pick, sizeof pick);
    CHECKF(strcmp(pick, "fake:1") == 0, "auto with slot 3 picked %s, expected fake:1", pick);
    mlsae_registry_set_auto_slot(0);

    mlsae_backend *be;
    mlsae_error err;
    CHECK(mlsae_backend_open("fake:2", NULL, &be, &err) == 0 &&
          strcmp(be->ops->describe(be), "fake device 2") == 0);
    if (be) mlsae_backend_close(be);
    CHECK(mlsae_backend_open("auto", NULL, &be, &err) == 0 &&
          strcmp(be->ops->describe(be), "fake device 1") == 0);
    if (be) mlsae_backend_close(be);
    CHECK(mlsae_backend_open("fake:7", NULL, &be, &err) == -1 && be == NULL &&
          strstr(err.msg, "fake backend: no device 7"));
    CHECK(mlsae_backend_open("nosuch:0", NULL, &be, &err) == -1 &&
          strstr(err.msg, "no plugin mlsae-nosuch.so found (searched"));
    CHECK(mlsae_backend_open("cpu:1", NULL, &be, &err) == -1 &&
          strstr(err.msg, "--device: unknown device 'cpu:1'"));
    CHECK(mlsae_backend_open("cpu", NULL, &be, &err) == 0 && strcmp(be->ops->name, "cpu") == 0);
    mlsae_backend_close(be);
    return tu_finish("test_registry");
}
