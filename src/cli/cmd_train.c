/* mlsae train (not yet built). */
#include "config.h"
#include "cli/commands.h"

int cmd_train(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_error("train", "this command is not available in this build yet");
}
