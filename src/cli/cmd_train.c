/* mlsae train: the pipeline (model + dataset), or training from saved
 * activations with --activations. */
#include "config.h"
#include "cli/commands.h"

int cmd_train(int argc, char **argv)
{
    return cmd_train_pipeline(argc, argv);
}
