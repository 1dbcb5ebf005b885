#include "config.h"
#include "core/signals.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t stop_signal;
static struct sigaction saved_int, saved_term;
static int installed;

static void on_stop_signal(int signo)
{
    /* Only an assignment to a sig_atomic_t: async-signal-safe. SA_RESETHAND
     * has already put back the default action for the next delivery. */
    stop_signal = signo;
}

static int arm(int signo, struct sigaction *saved, mlsae_error *err)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND | SA_RESTART;
    if (sigaction(signo, &sa, saved) != 0)
        return mlsae_fail_errno(err, "cannot install the handler for signal %d", signo);
    return 0;
}

int mlsae_signals_install(mlsae_error *err)
{
    stop_signal = 0;
    struct sigaction old_int, old_term;
    if (arm(SIGINT, &old_int, err) != 0) return -1;
    if (arm(SIGTERM, &old_term, err) != 0) {
        sigaction(SIGINT, &old_int, NULL);
        return -1;
    }
    /* Keep the handlers from before the first install: a second install
     * (reset) must not record our own handler as the one to restore. */
    if (!installed) {
        saved_int = old_int;
        saved_term = old_term;
        installed = 1;
    }
    return 0;
}

void mlsae_signals_restore(void)
{
    if (!installed) return;
    sigaction(SIGINT, &saved_int, NULL);
    sigaction(SIGTERM, &saved_term, NULL);
    installed = 0;
}

int mlsae_signals_stop_requested(void)
{
    return (int)stop_signal;
}

int mlsae_signals_reset(mlsae_error *err)
{
    return mlsae_signals_install(err);
}
