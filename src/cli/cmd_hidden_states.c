/* mlsae hidden-states (not yet built). */
#include "config.h"
#include "cli/commands.h"

int cmd_hidden_states(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_error("hidden-states", "this command is not available in this build yet");
}
