/* Benchmark of one full MLSAE training step (forward, sparse backward,
 * decoder hooks, Adam) on random activations, beside the machine's own
 * sgemm rate for the encoder product of the same shape, measured in the
 * same run (SPEC §10), and the bf16 product's rate (backend/lowp.h, the
 * AVX512_BF16 kernel where the CPU has it) on the same shape: the two
 * rooflines of the step under precision 32 and bf16-mixed. Prints one JSON
 * object. With precision "both", a bf16-mixed SAE and a 32 SAE (same seed)
 * take their steps alternately in the same run, beside the two products,
 * so that the speed-up of bf16-mixed over 32 is measured under one machine
 * load (step_s is then bf16-mixed's, step32_s the 32 step's).
 *
 * Usage: bench_sae [d n_latents k auxk rows steps dead_fraction precision] */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "backend/backend.h"
#include "backend/lowp.h"
#include "sae/mlsae.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static double load_avg(void)
{
    double l = -1;
    FILE *fp = fopen("/proc/loadavg", "r");
    if (fp) {
        if (fscanf(fp, "%lf", &l) != 1) l = -1;
        fclose(fp);
    }
    return l;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv)
{
    int d = 512, n = 32768, k = 32, auxk = 256, rows = 12288, steps = 3;
    double dead_fraction = 0;
    mlsae_precision precision = MLSAE_PRECISION_32;
    int both = 0;
    if (argc > 1) d = atoi(argv[1]);
    if (argc > 2) n = atoi(argv[2]);
    if (argc > 3) k = atoi(argv[3]);
    if (argc > 4) auxk = atoi(argv[4]);
    if (argc > 5) rows = atoi(argv[5]);
    if (argc > 6) steps = atoi(argv[6]);
    if (argc > 7) dead_fraction = atof(argv[7]);
    if (argc > 8 && strcmp(argv[8], "both") == 0) {
        both = 1;
        precision = MLSAE_PRECISION_BF16_MIXED;
    } else if (argc > 8 && mlsae_precision_parse(argv[8], &precision)) {
        fprintf(stderr, "precision '%s': one of 32, bf16-mixed, 16-mixed, both\n", argv[8]);
        return 1;
    }
    const int layers = 6, rpl = rows / layers;
    rows = layers * rpl;
    mlsae_backend *be;
    mlsae_error err;
    mlsae_backend_params bp = {0};
    if (mlsae_backend_cpu_new(&bp, &be, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    mlsae_sae_config cfg;
    mlsae_sae_config_default(&cfg, d, n / d);
    cfg.n_latents = n;
    cfg.k = k;
    cfg.auxk = auxk;
    cfg.accumulate_grad_batches = 1; /* every micro-batch is a full step */
    cfg.dead_steps_threshold = 1000;
    cfg.precision = precision;
    mlsae_sae *sae, *sae32 = NULL;
    if (mlsae_sae_create(&cfg, be, 42, &sae, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    if (both) {
        mlsae_sae_config c32 = cfg;
        c32.precision = MLSAE_PRECISION_32;
        if (mlsae_sae_create(&c32, be, 42, &sae32, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
    }
    for (int si = 0; si < 1 + both && dead_fraction > 0; si++) {
        mlsae_sae *sae_d = si ? sae32 : sae;
        /* latents that have not fired for long, and stay dead: a zero encoder
         * row gives pre = 0, never among the TopK of random inputs; the AuxK
         * path runs over them every step */
        int64_t *ln = calloc((size_t)n, sizeof *ln);
        float *enc = malloc((size_t)n * d * sizeof *enc);
        mlsae_sae_get_params(sae_d, enc, NULL, NULL, NULL, &err);
        for (int i = 0; i < n; i++)
            if ((i % 1000) < dead_fraction * 1000) {
                ln[i] = 100000;
                for (int j = 0; j < d; j++) enc[(size_t)i * d + j] = 0.0f;
            }
        mlsae_sae_set_params(sae_d, enc, NULL, NULL, ln, &err);
        free(ln);
        free(enc);
    }
    mlsae_buffer *x = mlsae_alloc_f32(be, (size_t)rows * d);
    float *host = malloc((size_t)rows * d * sizeof *host);
    uint64_t s = 88172645463325252ull;
    for (size_t i = 0; i < (size_t)rows * d; i++) { /* xorshift + Box-Muller-free approx normal */
        float u = 0;
        for (int j = 0; j < 4; j++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            u += (float)(s >> 40) * (1.0f / 16777216.0f);
        }
        host[i] = (u - 2.0f) * 1.7f * (1.0f + (float)((i / ((size_t)rpl * d)) % layers));
    }
    be->ops->core.write(be, x, 0, host, (size_t)rows * d * 4);
    free(host);
    mlsae_sae_train_metrics m;
    /* warm-up step (includes the one-time geometric median) */
    double t0 = now();
    if (mlsae_sae_train_microbatch(sae, mlsae_at(x, 0), layers, rpl, &m, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double first = now() - t0;
    if (both && mlsae_sae_train_microbatch(sae32, mlsae_at(x, 0), layers, rpl, &m, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double sae_rss_mb = ru.ru_maxrss / 1024.0; /* before the reference sgemm's buffers */

    /* the machine's sgemm on the encoder shape [rows x d] @ [d x n], measured
     * alternately with the steps so that both see the same machine load */
    mlsae_buffer *a = mlsae_alloc_f32(be, (size_t)rows * d), *w = mlsae_alloc_f32(be, (size_t)n * d);
    mlsae_buffer *c = mlsae_alloc_f32(be, (size_t)rows * n);
    if (!a || !w || !c) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    be->ops->core.fill(be, mlsae_at(a, 0), (size_t)rows * d, 0.01f);
    be->ops->core.fill(be, mlsae_at(w, 0), (size_t)n * d, 0.02f);
    be->ops->core.fill(be, mlsae_at(c, 0), (size_t)rows * n, 0.0f);
    /* the bf16 product on the same shape: W packed once (as the SAE does once
     * per Adam step), the rows rounded on every call */
    mlsae_buffer *wp = mlsae_alloc_f32(be, mlsae_lowp_packed_elems(n, d));
    mlsae_buffer *scratch = mlsae_alloc_f32(be, (size_t)rows * d);
    if (!wp || !scratch ||
        mlsae_lowp_pack(be, MLSAE_LOWP_BF16, mlsae_at(w, 0), n, d, mlsae_at(wp, 0))) {
        fprintf(stderr, "bf16 product: cannot prepare\n");
        return 1;
    }
    double flops = 2.0 * rows * (double)d * n;
    double *times = malloc((size_t)steps * sizeof *times), *gemms = malloc((size_t)steps * sizeof *gemms);
    double *cpu_step = malloc((size_t)steps * sizeof *cpu_step), *cpu_gemm = malloc((size_t)steps * sizeof *cpu_gemm);
    double *bgemms = malloc((size_t)steps * sizeof *bgemms);
    double *times32 = malloc((size_t)steps * sizeof *times32);
    double *cpu32 = malloc((size_t)steps * sizeof *cpu32);
    double loss32 = 0;
    double *cpu_bgemm = malloc((size_t)steps * sizeof *cpu_bgemm);
    double dead = 0;
    for (int i = 0; i < steps; i++) {
        double c0 = cpu_seconds();
        t0 = now();
        be->ops->core.sgemm(be, 0, 1, rows, n, d, 1.0f, mlsae_at(a, 0), d, mlsae_at(w, 0), d, 0.0f,
                            mlsae_at(c, 0), n);
        gemms[i] = now() - t0;
        cpu_gemm[i] = cpu_seconds() - c0;
        c0 = cpu_seconds();
        t0 = now();
        if (mlsae_lowp_gemm(be, MLSAE_LOWP_BF16, rows, n, d, mlsae_at(a, 0), d, mlsae_at(wp, 0),
                            mlsae_at(c, 0), n, mlsae_at(scratch, 0))) {
            fprintf(stderr, "bf16 product: %s\n", mlsae_backend_error(be));
            return 1;
        }
        bgemms[i] = now() - t0;
        cpu_bgemm[i] = cpu_seconds() - c0;
        c0 = cpu_seconds();
        t0 = now();
        if (mlsae_sae_train_microbatch(sae, mlsae_at(x, 0), layers, rpl, &m, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        times[i] = now() - t0;
        cpu_step[i] = cpu_seconds() - c0;
        dead = m.dead_fraction;
        if (both) {
            mlsae_sae_train_metrics m32;
            c0 = cpu_seconds();
            t0 = now();
            if (mlsae_sae_train_microbatch(sae32, mlsae_at(x, 0), layers, rpl, &m32, &err)) {
                fprintf(stderr, "%s\n", err.msg);
                return 1;
            }
            times32[i] = now() - t0;
            cpu32[i] = cpu_seconds() - c0;
            loss32 = m32.loss_total;
        }
    }
    char extra[256] = "";
    if (both) {
        double s32 = median(times32, steps), c32 = median(cpu32, steps);
        double sb = median(times, steps), cb16 = median(cpu_step, steps);
        double g32 = median(gemms, steps), cg32 = median(cpu_gemm, steps);
        snprintf(extra, sizeof extra,
                 ", \"step32_s\": %.4f, \"step32_cpu_s\": %.3f, \"loss32\": %.5f, "
                 "\"bf16_speedup\": %.3f, \"bf16_speedup_cpu\": %.3f, "
                 "\"roofline_fraction32\": %.3f, \"roofline_fraction32_cpu\": %.3f",
                 s32, c32, loss32, s32 / sb, c32 / cb16, g32 / s32, cg32 / c32);
    }
    double step = median(times, steps), gemm = median(gemms, steps);
    double bgemm = median(bgemms, steps), cb = median(cpu_bgemm, steps);
    double cs = median(cpu_step, steps), cg = median(cpu_gemm, steps);
    printf("{\"impl\": \"mlsae-c\", \"backend\": \"%s\", \"precision\": \"%s\", "
           "\"bf16_product\": \"%s\", \"d\": %d, \"n_latents\": %d, \"k\": %d, "
           "\"auxk\": %d, \"rows\": %d, \"tokens\": %d, \"dead_fraction\": %.4f, "
           "\"step_s\": %.4f, \"first_step_s\": %.4f, \"rows_per_s\": %.1f, \"tokens_per_s\": %.1f, "
           "\"sgemm_s\": %.4f, \"sgemm_gflops\": %.1f, \"roofline_fraction\": %.3f, "
           "\"step_cpu_s\": %.3f, \"sgemm_cpu_s\": %.3f, \"roofline_fraction_cpu\": %.3f, "
           "\"bf16_gemm_s\": %.4f, \"bf16_gflops\": %.1f, \"bf16_roofline_fraction\": %.3f, "
           "\"bf16_gemm_cpu_s\": %.3f, \"bf16_roofline_fraction_cpu\": %.3f, "
           "\"loss\": %.5f, \"peak_rss_mb\": %.1f, \"load_avg\": %.2f%s}\n",
           be->ops->describe(be), both ? "both" : mlsae_precision_name(precision),
           mlsae_lowp_describe(be, MLSAE_LOWP_BF16), d, n, k, auxk, rows, rpl, dead, step, first, rows / step,
           rpl / step, gemm, flops / gemm * 1e-9, gemm / step, cs, cg, cg / cs, bgemm,
           flops / bgemm * 1e-9, bgemm / step, cb, cb / cs, m.loss_total,
           sae_rss_mb, load_avg(), extra);
    be->ops->core.free(be, a), be->ops->core.free(be, w), be->ops->core.free(be, c);
    be->ops->core.free(be, wp), be->ops->core.free(be, scratch);
    free(bgemms), free(cpu_bgemm);
    free(gemms), free(cpu_step), free(cpu_gemm);
    free(times), free(times32), free(cpu32);
    if (sae32) mlsae_sae_free(sae32);
    be->ops->core.free(be, x);
    mlsae_sae_free(sae);
    mlsae_backend_close(be);
    return 0;
}
