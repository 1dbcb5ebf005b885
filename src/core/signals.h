/* Graceful interruption of long jobs (training, testing).
 *
 * After mlsae_signals_install(), the first SIGINT or SIGTERM only records a
 * request to stop: the loop polls mlsae_signals_stop_requested() at a safe
 * point (e.g. after an optimizer step), saves a checkpoint and returns. The
 * handler is installed with SA_RESETHAND, so a second Ctrl-C (or SIGTERM)
 * gets the default action and ends the process at once (force-quit).
 */
#ifndef MLSAE_CORE_SIGNALS_H
#define MLSAE_CORE_SIGNALS_H

#include "core/status.h"

/* Install the handlers for SIGINT and SIGTERM (clears any earlier request). */
int mlsae_signals_install(mlsae_error *err);

/* Put back the handlers that were in place before install. */
void mlsae_signals_restore(void);

/* The number of the signal that asked to stop (SIGINT, SIGTERM), or 0. */
int mlsae_signals_stop_requested(void);

/* Forget a request and re-arm the handlers (e.g. after a checkpoint the
 * user chose to continue past). */
int mlsae_signals_reset(mlsae_error *err);

#endif
