#include "config.h"
#include "core/progress.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double mlsae_monotonic_seconds(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void mlsae_progress_options_default(mlsae_progress_options *opt)
{
    opt->tty = -1;
    opt->tty_interval_s = 0.25;
    opt->line_interval_s = 30.0;
    opt->line_every = 0;
    opt->unit = "tok";
    opt->clock = mlsae_monotonic_seconds;
    opt->clock_ctx = NULL;
}

static double now_of(const mlsae_progress *p) { return p->opt.clock(p->opt.clock_ctx); }

void mlsae_progress_start(mlsae_progress *p, FILE *out, const char *label, uint64_t done,
                          uint64_t total, const mlsae_progress_options *opt)
{
    memset(p, 0, sizeof *p);
    p->out = out;
    if (opt) p->opt = *opt;
    else mlsae_progress_options_default(&p->opt);
    if (!p->opt.clock) p->opt.clock = mlsae_monotonic_seconds;
    if (p->opt.tty < 0) p->opt.tty = out && isatty(fileno(out)) ? 1 : 0;
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    snprintf(p->unit, sizeof p->unit, "%s", p->opt.unit ? p->opt.unit : "tok");
    p->total = total;
    p->done = p->start_done = done;
    p->t_start = p->t_last_draw = now_of(p);
}

void mlsae_progress_set(mlsae_progress *p, const char *name, double value)
{
    for (int i = 0; i < p->n_scalars; i++)
        if (strcmp(p->names[i], name) == 0) {
            p->values[i] = value;
            return;
        }
    if (p->n_scalars >= MLSAE_PROGRESS_MAX_SCALARS) return;
    snprintf(p->names[p->n_scalars], MLSAE_PROGRESS_NAME_MAX, "%s", name);
    p->values[p->n_scalars++] = value;
}

double mlsae_progress_rate(const mlsae_progress *p, double now)
{
    double dt = now - p->t_start;
    if (!(dt > 0) || p->done < p->start_done) return 0.0;
    return (double)(p->done - p->start_done) / dt;
}

double mlsae_progress_eta(const mlsae_progress *p, double now)
{
    if (p->total == 0) return -1.0;
    if (p->done >= p->total) return 0.0;
    double rate = mlsae_progress_rate(p, now);
    if (!(rate > 0)) return -1.0;
    return (double)(p->total - p->done) / rate;
}

void mlsae_format_duration(double seconds, char *buf, size_t n)
{
    if (!isfinite(seconds) || seconds < 0 || seconds > 1e9) {
        snprintf(buf, n, "--:--");
        return;
    }
    unsigned long long s = (unsigned long long)(seconds + 0.5);
    unsigned long long h = s / 3600, m = (s / 60) % 60, sec = s % 60;
    if (h > 0) snprintf(buf, n, "%llu:%02llu:%02llu", h, m, sec);
    else snprintf(buf, n, "%02llu:%02llu", m, sec);
}

void mlsae_format_si(double value, char *buf, size_t n)
{
    static const char suffix[] = {'\0', 'k', 'M', 'G', 'T', 'P', 'E'};
    if (!isfinite(value)) {
        snprintf(buf, n, "%g", value);
        return;
    }
    double mag = fabs(value);
    if (mag < 1000) {
        if (value == floor(value)) snprintf(buf, n, "%.0f", value);
        else snprintf(buf, n, "%.3g", value);
        /* e.g. 999.7 rounds to "1e+03": fall through to the k branch */
        if (!strchr(buf, 'e')) return;
    }
    int unit = 0;
    double scaled = value;
    while (unit < 6 && fabs(scaled) >= 999.5) {
        scaled /= 1000.0;
        unit++;
    }
    int decimals = fabs(scaled) >= 99.95 ? 0 : fabs(scaled) >= 9.995 ? 1 : 2;
    snprintf(buf, n, "%.*f%c", decimals, scaled, suffix[unit]);
}

/* Append formatted text at buf[*len], never past n-1. */
static void append(char *buf, size_t n, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t n, size_t *len, const char *fmt, ...)
{
    if (*len + 1 >= n) return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *len, n - *len, fmt, ap);
    va_end(ap);
    if (w < 0) return;
    *len += (size_t)w;
    if (*len > n - 1) *len = n - 1;
}

size_t mlsae_progress_format(const mlsae_progress *p, double now, int bar, char *buf, size_t n)
{
    size_t len = 0;
    if (n == 0) return 0;
    buf[0] = '\0';
    char done[32], total[32], rate[32], elapsed[32], eta[32];
    mlsae_format_si((double)p->done, done, sizeof done);
    mlsae_format_si(mlsae_progress_rate(p, now), rate, sizeof rate);
    mlsae_format_duration(now - p->t_start, elapsed, sizeof elapsed);
    if (p->label[0]) append(buf, n, &len, "%s ", p->label);
    if (p->total > 0) {
        double frac = (double)p->done / (double)p->total;
        if (frac > 1) frac = 1;
        mlsae_format_si((double)p->total, total, sizeof total);
        mlsae_format_duration(mlsae_progress_eta(p, now), eta, sizeof eta);
        append(buf, n, &len, "%5.1f%% ", 100.0 * frac);
        if (bar) {
            enum { WIDTH = 20 };
            int fill = (int)(frac * WIDTH);
            char cells[WIDTH + 1];
            for (int i = 0; i < WIDTH; i++) cells[i] = i < fill ? '#' : ' ';
            cells[WIDTH] = '\0';
            append(buf, n, &len, "[%s] ", cells);
        }
        append(buf, n, &len, "%s/%s %s  %s %s/s  %s<%s", done, total, p->unit, rate, p->unit,
               elapsed, eta);
    } else {
        append(buf, n, &len, "%s %s  %s %s/s  %s", done, p->unit, rate, p->unit, elapsed);
    }
    for (int i = 0; i < p->n_scalars; i++)
        append(buf, n, &len, "%s%s=%.4g", i == 0 ? "  " : " ", p->names[i], p->values[i]);
    return len;
}

static void draw(mlsae_progress *p, double now)
{
    if (!p->out) return;
    char text[512];
    mlsae_progress_format(p, now, p->opt.tty, text, sizeof text);
    if (p->opt.tty) {
        fprintf(p->out, "\r%s\033[K", text);
        p->line_on_screen = 1;
    } else {
        fprintf(p->out, "%s\n", text);
    }
    fflush(p->out);
    p->t_last_draw = now;
    p->updates_since_line = 0;
    p->drawn_once = 1;
}

void mlsae_progress_update(mlsae_progress *p, uint64_t done)
{
    p->done = done;
    p->updates_since_line++;
    double now = now_of(p);
    double since = now - p->t_last_draw;
    int due;
    if (p->opt.tty)
        due = !p->drawn_once || since >= p->opt.tty_interval_s;
    else
        due = (p->opt.line_interval_s > 0 && since >= p->opt.line_interval_s) ||
              (p->opt.line_every > 0 && p->updates_since_line >= p->opt.line_every);
    if (due) draw(p, now);
}

void mlsae_progress_message(mlsae_progress *p, const char *fmt, ...)
{
    if (!p->out) return;
    if (p->line_on_screen) {
        fputs("\r\033[K", p->out);
        p->line_on_screen = 0;
        p->drawn_once = 0; /* redraw at the next update */
    }
    va_list ap;
    va_start(ap, fmt);
    vfprintf(p->out, fmt, ap);
    va_end(ap);
    fputc('\n', p->out);
    fflush(p->out);
}

void mlsae_progress_finish(mlsae_progress *p)
{
    if (!p->out) return;
    /* plain lines: the last update's line already says it all (no second
     * identical final line) */
    if (p->opt.tty || !p->drawn_once || p->updates_since_line > 0) draw(p, now_of(p));
    if (p->opt.tty) fputc('\n', p->out);
    p->line_on_screen = 0;
    fflush(p->out);
}
