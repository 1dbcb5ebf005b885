/* SIGINT/SIGTERM handling: first signal sets the stop flag, the second one
 * gets the default action (checked in a forked child), restore puts back
 * the previous disposition. */
#include "config.h"
#include "core/signals.h"
#include "testutil.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void (*current_handler(int signo))(int)
{
    struct sigaction sa;
    sigaction(signo, NULL, &sa);
    return sa.sa_handler;
}

static void test_flag_and_reset(void)
{
    mlsae_error err;
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    CHECK(mlsae_signals_install(&err) == 0);
    CHECK(mlsae_signals_stop_requested() == 0);
    CHECK(current_handler(SIGINT) != SIG_IGN && current_handler(SIGINT) != SIG_DFL);

    raise(SIGINT);
    CHECK(mlsae_signals_stop_requested() == SIGINT);
    /* One-shot: the next SIGINT would take the default action. */
    CHECK(current_handler(SIGINT) == SIG_DFL);

    CHECK(mlsae_signals_reset(&err) == 0);
    CHECK(mlsae_signals_stop_requested() == 0);
    raise(SIGTERM);
    CHECK(mlsae_signals_stop_requested() == SIGTERM);

    mlsae_signals_restore();
    /* The dispositions from before the first install come back. */
    CHECK(current_handler(SIGINT) == SIG_IGN);
    CHECK(current_handler(SIGTERM) == SIG_IGN);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
}

/* In a child: first signal is survived, the second kills with that signal. */
static void test_second_signal_kills(int signo)
{
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid < 0) return;
    if (pid == 0) {
        if (mlsae_signals_install(NULL) != 0) _exit(10);
        raise(signo);
        if (mlsae_signals_stop_requested() != signo) _exit(11);
        raise(signo);
        _exit(12); /* not reached when the default action ran */
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == signo,
           "child status: exited=%d code=%d signaled=%d sig=%d", WIFEXITED(status),
           WIFEXITED(status) ? WEXITSTATUS(status) : -1, WIFSIGNALED(status),
           WIFSIGNALED(status) ? WTERMSIG(status) : -1);
}

int main(void)
{
    test_flag_and_reset();
    test_second_signal_kills(SIGINT);
    test_second_signal_kills(SIGTERM);
    return tu_finish("test_signals");
}
