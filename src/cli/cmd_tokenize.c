/* mlsae tokenize (not yet built). */
#include "config.h"
#include "cli/commands.h"

int cmd_tokenize(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_error("tokenize", "this command is not available in this build yet");
}
