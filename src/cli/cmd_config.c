/* mlsae config (not yet built). */
#include "config.h"
#include "cli/commands.h"

int cmd_config(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_error("config", "this command is not available in this build yet");
}
