/* Run configuration YAML: a file either loads into a configuration that
 * validates field by field, or fails and leaves the configuration as it was. */
#include "config.h"
#include "fuzz_util.h"
#include "config/run_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static mlsae_run_config cfg, before;
    mlsae_run_config_defaults(&cfg);
    before = cfg;
    mlsae_error err;
    if (mlsae_run_config_load_yaml_text(&cfg, (const char *)data, size, "f.yaml", &err)) {
        if (!mlsae_run_config_equal(&cfg, &before)) abort();
        if (strchr(err.msg, '\n')) abort();
        return 0;
    }
    mlsae_run_config_validate(&cfg, &err);
    char *yaml = NULL;
    size_t len = 0;
    /* what loads is written back and reads back the same */
    if (mlsae_run_config_to_yaml(&cfg, &yaml, &len, &err) == 0) {
        mlsae_run_config again;
        mlsae_run_config_defaults(&again);
        if (mlsae_run_config_load_yaml_text(&again, yaml, len, "again.yaml", &err) ||
            !mlsae_run_config_equal(&cfg, &again)) {
            fprintf(stderr, "written back:\n%s\n%s\n", yaml, err.msg);
            abort();
        }
        free(yaml);
    }
    return 0;
}
