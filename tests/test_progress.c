/* Progress display: duration/count formatting, rate and ETA, terminal
 * throttling and plain-line cadence, all driven by an injected clock. */
#include "config.h"
#include "core/progress.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double fake_now;
static double fake_clock(void *ctx)
{
    (void)ctx;
    return fake_now;
}

static void check_duration(double s, const char *want)
{
    char buf[32];
    mlsae_format_duration(s, buf, sizeof buf);
    CHECKF(strcmp(buf, want) == 0, "duration(%g) = '%s', want '%s'", s, buf, want);
}

static void check_si(double v, const char *want)
{
    char buf[32];
    mlsae_format_si(v, buf, sizeof buf);
    CHECKF(strcmp(buf, want) == 0, "si(%g) = '%s', want '%s'", v, buf, want);
}

static void test_formatters(void)
{
    check_duration(0, "00:00");
    check_duration(59.4, "00:59");
    check_duration(59.6, "01:00");
    check_duration(3599.4, "59:59");
    check_duration(3600, "1:00:00");
    check_duration(90061, "25:01:01");
    check_duration(-1, "--:--");
    check_duration(NAN, "--:--");
    check_duration(INFINITY, "--:--");

    check_si(0, "0");
    check_si(7, "7");
    check_si(999, "999");
    check_si(12.5, "12.5");
    check_si(0.25, "0.25");
    check_si(999.7, "1.00k");
    check_si(1000, "1.00k");
    check_si(1234, "1.23k");
    check_si(12345, "12.3k");
    check_si(123456, "123k");
    check_si(999500, "1.00M");
    check_si(1e9, "1.00G");
    check_si(2.5e12, "2.50T");
}

static size_t count_char(const char *s, char c)
{
    size_t k = 0;
    for (; *s; s++) k += *s == c;
    return k;
}

static mlsae_progress_options fake_options(int tty)
{
    mlsae_progress_options o;
    mlsae_progress_options_default(&o);
    o.tty = tty;
    o.clock = fake_clock;
    return o;
}

static void test_rate_eta_text(void)
{
    mlsae_progress_options o = fake_options(0);
    mlsae_progress p;
    fake_now = 100.0;
    mlsae_progress_start(&p, NULL, "train", 0, 1000, &o);
    fake_now = 110.0;
    mlsae_progress_update(&p, 250);
    mlsae_progress_set(&p, "loss", 0.5);
    mlsae_progress_set(&p, "fvu", 0.125);
    mlsae_progress_set(&p, "loss", 0.25); /* replaces, keeps position */
    CHECK(fabs(mlsae_progress_rate(&p, fake_now) - 25.0) < 1e-12);
    CHECK(fabs(mlsae_progress_eta(&p, fake_now) - 30.0) < 1e-12);
    char text[256];
    mlsae_progress_format(&p, fake_now, 0, text, sizeof text);
    CHECKF(strcmp(text, "train  25.0% 250/1.00k tok  25 tok/s  00:10<00:30  loss=0.25 fvu=0.125") == 0,
           "'%s'", text);
    mlsae_progress_format(&p, fake_now, 1, text, sizeof text);
    CHECKF(strstr(text, "[#####               ]") != NULL, "'%s'", text);

    /* Truncation keeps a terminated string. */
    char small[10];
    size_t n = mlsae_progress_format(&p, fake_now, 0, small, sizeof small);
    CHECK(n == 9 && strlen(small) == 9);

    /* A resumed run: the rate counts only work done since start. */
    fake_now = 0;
    mlsae_progress_start(&p, NULL, "", 500, 1000, &o);
    fake_now = 10;
    mlsae_progress_update(&p, 600);
    CHECK(fabs(mlsae_progress_rate(&p, fake_now) - 10.0) < 1e-12);
    CHECK(fabs(mlsae_progress_eta(&p, fake_now) - 40.0) < 1e-12);

    /* No time elapsed or nothing done: ETA unknown. */
    fake_now = 0;
    mlsae_progress_start(&p, NULL, "x", 0, 1000, &o);
    CHECK(mlsae_progress_eta(&p, 0.0) < 0);
    mlsae_progress_format(&p, 0.0, 0, text, sizeof text);
    CHECKF(strstr(text, "00:00<--:--") != NULL, "'%s'", text);

    /* Unknown total: no percentage or ETA. */
    mlsae_progress_start(&p, NULL, "test", 0, 0, &o);
    fake_now = 4;
    mlsae_progress_update(&p, 4000);
    mlsae_progress_format(&p, fake_now, 1, text, sizeof text);
    CHECKF(strcmp(text, "test 4.00k tok  1.00k tok/s  00:04") == 0, "'%s'", text);
}

static char *capture_text(FILE *f)
{
    fflush(f);
    long n = ftell(f);
    rewind(f);
    char *s = calloc((size_t)n + 1, 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) s[0] = '\0';
    return s;
}

static void test_tty_throttle(void)
{
    FILE *f = tmpfile();
    CHECK(f != NULL);
    if (!f) return;
    mlsae_progress_options o = fake_options(1);
    mlsae_progress p;
    fake_now = 0;
    mlsae_progress_start(&p, f, "t", 0, 100, &o);
    const double times[] = {0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6};
    for (int i = 0; i < 7; i++) {
        fake_now = times[i];
        mlsae_progress_update(&p, (uint64_t)(10 * i));
    }
    /* drawn at 0.0 (first), 0.3 and 0.6 (0.25 s apart at least) */
    char *s = capture_text(f);
    CHECKF(s && count_char(s, '\r') == 3, "redraws: %zu", s ? count_char(s, '\r') : 0);
    CHECK(s && count_char(s, '\n') == 0);
    CHECK(s && strstr(s, "\033[K") != NULL);
    free(s);

    mlsae_progress_message(&p, "val loss %.2f", 1.5);
    fake_now = 0.65; /* within the interval, but a message forces a redraw */
    mlsae_progress_update(&p, 70);
    mlsae_progress_finish(&p);
    s = capture_text(f);
    CHECK(s && strstr(s, "\r\033[Kval loss 1.50\n\r") != NULL);
    CHECKF(s && count_char(s, '\r') == 6, "redraws: %zu", s ? count_char(s, '\r') : 0);
    size_t len = s ? strlen(s) : 0;
    CHECK(len > 0 && s[len - 1] == '\n');
    free(s);
    fclose(f);
}

static void test_plain_lines(void)
{
    FILE *f = tmpfile();
    CHECK(f != NULL);
    if (!f) return;
    mlsae_progress_options o = fake_options(0);
    o.line_interval_s = 10;
    mlsae_progress p;
    fake_now = 0;
    mlsae_progress_start(&p, f, "t", 0, 100, &o);
    for (int i = 1; i <= 25; i++) {
        fake_now = i;
        mlsae_progress_update(&p, (uint64_t)(4 * i));
    }
    char *s = capture_text(f);
    CHECKF(s && count_char(s, '\n') == 2, "lines: %zu", s ? count_char(s, '\n') : 0);
    CHECK(s && count_char(s, '\r') == 0 && strstr(s, "\033") == NULL);
    free(s);
    mlsae_progress_finish(&p);
    s = capture_text(f);
    CHECK(s && count_char(s, '\n') == 3);
    CHECK(s && strstr(s, "t 100.0% 100/100 tok") != NULL);
    free(s);
    fclose(f);

    f = tmpfile();
    CHECK(f != NULL);
    if (!f) return;
    /* the last update drew the final line: finish adds no second one */
    o.line_interval_s = 10;
    fake_now = 0;
    mlsae_progress_start(&p, f, "t", 0, 100, &o);
    fake_now = 5;
    mlsae_progress_update(&p, 50);
    fake_now = 10;
    mlsae_progress_update(&p, 100);
    mlsae_progress_finish(&p);
    s = capture_text(f);
    CHECKF(s && count_char(s, '\n') == 1, "final line printed %zu times", s ? count_char(s, '\n') : 0);
    free(s);
    fclose(f);

    f = tmpfile();
    CHECK(f != NULL);
    if (!f) return;
    o.line_interval_s = 0;
    o.line_every = 5;
    mlsae_progress_start(&p, f, "t", 0, 0, &o);
    for (int i = 1; i <= 12; i++) mlsae_progress_update(&p, (uint64_t)i);
    s = capture_text(f);
    CHECKF(s && count_char(s, '\n') == 2, "lines: %zu", s ? count_char(s, '\n') : 0);
    free(s);
    fclose(f);
}

int main(void)
{
    test_formatters();
    test_rate_eta_text();
    test_tty_throttle();
    test_plain_lines();
    return tu_finish("test_progress");
}
