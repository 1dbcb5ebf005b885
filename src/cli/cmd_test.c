/* mlsae test (not yet built). */
#include "config.h"
#include "cli/commands.h"

int cmd_test(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_error("test", "this command is not available in this build yet");
}
