/* mlsae train: the pipeline (model + dataset, cmd_train_pipeline.c), or
 * training from saved activations with --activations
 * (cmd_train_activations.c). */
#include "config.h"
#include "cli/commands.h"

#include <string.h>

int cmd_train(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) break;
        if (strcmp(argv[i], "--activations") == 0 || strncmp(argv[i], "--activations=", 14) == 0)
            return cmd_train_activations(argc, argv);
    }
    return cmd_train_pipeline(argc, argv);
}
