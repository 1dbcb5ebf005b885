/* mlsae demo (not yet built). */
#include "config.h"
#include "cli/commands.h"

int cmd_demo(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_error("demo", "this command is not available in this build yet");
}
