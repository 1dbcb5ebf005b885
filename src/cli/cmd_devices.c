/* mlsae devices (not yet built). */
#include "config.h"
#include "cli/commands.h"

int cmd_devices(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_error("devices", "this command is not available in this build yet");
}
