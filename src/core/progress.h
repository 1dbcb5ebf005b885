/* Progress display for long jobs, written to a stream the caller hands in
 * (the command-line tool passes stderr; library code never prints on its
 * own).
 *
 * On a terminal: one self-updating line (carriage return + erase to end of
 * line), redrawn at most every tty_interval_s seconds:
 *   train  42.0% [########            ] 4.20M/10.0M tok  12.3k tok/s  05:41<07:51  loss=0.0731
 * Otherwise (a log file, a pipe): the same text as a plain line every
 * line_interval_s seconds and/or every line_every updates.
 *
 * The clock is injectable so formatting and throttling are testable.
 */
#ifndef MLSAE_CORE_PROGRESS_H
#define MLSAE_CORE_PROGRESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Seconds on a monotonic clock. */
typedef double (*mlsae_clock_fn)(void *ctx);
double mlsae_monotonic_seconds(void *ctx);

typedef struct mlsae_progress_options {
    int tty;                /* 1: self-updating line; 0: plain lines; -1: isatty(out) */
    double tty_interval_s;  /* least time between redraws on a terminal (0.25 s) */
    double line_interval_s; /* time between plain lines (30 s; <= 0: never by time) */
    uint64_t line_every;    /* also a plain line every this many updates (0: never) */
    const char *unit;       /* unit of the counts, e.g. "tok" (default), "seq" */
    mlsae_clock_fn clock;   /* default mlsae_monotonic_seconds */
    void *clock_ctx;
} mlsae_progress_options;

#define MLSAE_PROGRESS_MAX_SCALARS 16
#define MLSAE_PROGRESS_NAME_MAX 32

typedef struct mlsae_progress {
    FILE *out;
    mlsae_progress_options opt;
    char label[48];
    char unit[16];
    uint64_t total;      /* 0: unknown (no percentage, bar or ETA) */
    uint64_t done;
    uint64_t start_done; /* count at start (a resumed run): rate uses only new work */
    double t_start, t_last_draw;
    uint64_t updates_since_line;
    int n_scalars;
    char names[MLSAE_PROGRESS_MAX_SCALARS][MLSAE_PROGRESS_NAME_MAX];
    double values[MLSAE_PROGRESS_MAX_SCALARS];
    int line_on_screen; /* a terminal line is drawn and not yet ended */
    int drawn_once;
} mlsae_progress;

void mlsae_progress_options_default(mlsae_progress_options *opt);

/* Begin: `done` units already finished (non-zero when resuming) of `total`.
 * opt may be NULL for the defaults. Prints nothing yet. */
void mlsae_progress_start(mlsae_progress *p, FILE *out, const char *label, uint64_t done,
                          uint64_t total, const mlsae_progress_options *opt);

/* Set a named scalar shown after the counts (e.g. "loss"); at most
 * MLSAE_PROGRESS_MAX_SCALARS names, extra names are ignored. */
void mlsae_progress_set(mlsae_progress *p, const char *name, double value);

/* Record progress; draws when the throttle allows. */
void mlsae_progress_update(mlsae_progress *p, uint64_t done);

/* Print one message line (e.g. validation results) without garbling the
 * terminal line, which is redrawn at the next update. */
void mlsae_progress_message(mlsae_progress *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Final draw and end the line (plain lines: none when the last update drew
 * one, so the final line is never printed twice). */
void mlsae_progress_finish(mlsae_progress *p);

/* The status text for time `now` (no carriage return or newline). `bar`
 * adds the [####    ] bar. Returns the length written (truncated to n-1). */
size_t mlsae_progress_format(const mlsae_progress *p, double now, int bar, char *buf, size_t n);

/* Units per second since start (0 when no time has passed), and the
 * estimated seconds left (negative when unknown). */
double mlsae_progress_rate(const mlsae_progress *p, double now);
double mlsae_progress_eta(const mlsae_progress *p, double now);

/* "MM:SS" below an hour, "H:MM:SS" above; "--:--" for negative/non-finite. */
void mlsae_format_duration(double seconds, char *buf, size_t n);
/* Three significant digits with an SI suffix: 999 -> "999", 1234 -> "1.23k",
 * 12345678 -> "12.3M"; integers below 1000 without decimals. */
void mlsae_format_si(double value, char *buf, size_t n);

#endif
