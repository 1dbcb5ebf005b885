#include "config.h"
#include "pipeline/stream.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/progress.h"
#include "pipeline/comm.h"
#include "pipeline/prefetch.h"

int mlsae_stream_open_loader(const mlsae_run_config *cfg, const mlsae_session *s,
                             const mlsae_data_position *start, mlsae_loader **out,
                             mlsae_error *err)
{
    const char *sources[1] = {cfg->data.path};
    mlsae_loader_config lc = {0};
    lc.sources = sources;
    lc.n_sources = 1;
    lc.tok = s->tok;
    lc.seq.max_length = (size_t)cfg->data.max_length;
    lc.seq.batch_size = (size_t)cfg->data.batch_size;
    lc.seq.n_threads = cfg->data.num_workers == MLSAE_CONFIG_NONE ? 0 : (int)cfg->data.num_workers;
    lc.start = start;
    return mlsae_loader_open(&lc, out, err);
}

/* Everything one run holds. */
typedef struct mlsae_stream {
    const mlsae_run_config *cfg;
    mlsae_session *s;
    const mlsae_stream_options *opt;
    int batch, seq;
    int rank, ranks;       /* data parallel (ranks 1: alone) */
    size_t n_x;            /* floats of a full batch's activations */
    mlsae_loader *loader;
    mlsae_prefetch *prefetch;
    mlsae_buffer *x;       /* on s->sae_be */
    float *x_host;         /* host_activations with one backend */
    int32_t *ids;          /* this rank's batch's ids (ranks > 1, no thread) */
    float *values;         /* host TopK */
    int32_t *indices;
    mlsae_sae_layer_metrics metrics[MLSAE_CONFIG_MAX_LAYERS];
    mlsae_stream_summary *sum; /* its times */
} stream;

void mlsae_stream_idle(mlsae_stream *st)
{
    if (st->prefetch) mlsae_prefetch_idle(st->prefetch);
}

static void stream_free(stream *st)
{
    mlsae_prefetch_close(st->prefetch);
    if (st->loader) mlsae_loader_close(st->loader);
    if (st->x) st->s->sae_be->ops->core.free(st->s->sae_be, st->x);
    free(st->x_host);
    free(st->ids);
    free(st->values);
    free(st->indices);
}

static int stream_init(stream *st, mlsae_error *err)
{
    mlsae_session *s = st->s;
    const mlsae_stream_options *opt = st->opt;
    st->batch = (int)st->cfg->data.batch_size;
    st->seq = (int)st->cfg->data.max_length;
    st->n_x = (size_t)s->n_layers * st->batch * st->seq * s->d_model;
    st->ranks = opt->ranks > 1 ? opt->ranks : 1;
    st->rank = st->ranks > 1 ? opt->rank : 0;
    if (st->rank < 0 || st->rank >= st->ranks)
        return mlsae_fail(err, "stream: rank %d of %d ranks", opt->rank, st->ranks);
    if (opt->sae) {
        const mlsae_sae_config *sc = mlsae_sae_get_config(opt->sae);
        if (sc->n_inputs != s->d_model)
            return mlsae_fail(err, "the SAE has n_inputs %d but the model %s has d_model %d",
                              sc->n_inputs, s->model_dir, s->d_model);
        if (mlsae_sae_backend(opt->sae) != s->sae_be)
            return mlsae_fail(err, "the SAE is not on the session's SAE backend");
        size_t n_k = (size_t)s->n_layers * st->batch * st->seq * sc->k;
        st->values = malloc(n_k * sizeof *st->values);
        st->indices = malloc(n_k * sizeof *st->indices);
        if (!st->values || !st->indices)
            return mlsae_fail(err, "cannot allocate the TopK of %zu rows", n_k / sc->k);
    } else if (opt->decode || opt->metrics) {
        return mlsae_fail(err, "stream: decode and metrics need an SAE");
    }
    st->x = mlsae_alloc_f32(s->sae_be, st->n_x);
    if (!st->x)
        return mlsae_fail(err, "cannot allocate activations for %d layers x %d x %d x %d",
                          s->n_layers, st->batch, st->seq, s->d_model);
    const int threaded = mlsae_session_split(s) && !opt->sequential;
    if ((opt->host_activations || mlsae_session_split(s)) && !threaded) {
        st->x_host = malloc(st->n_x * sizeof *st->x_host);
        if (!st->x_host) return mlsae_fail(err, "out of memory for host activations");
    }
    if (st->ranks > 1 && !threaded &&
        !(st->ids = malloc((size_t)st->batch * st->seq * sizeof *st->ids)))
        return mlsae_fail(err, "out of memory for token ids");
    if (mlsae_stream_open_loader(st->cfg, s, opt->start, &st->loader, err)) return -1;
    if (threaded && mlsae_prefetch_open_strided(s, st->loader, st->batch, st->seq, st->rank,
                                                st->ranks, &st->prefetch, err))
        return -1;
    return 0;
}

/* One group of batches: `ranks` of them (one alone), the last group of the
 * data possibly fewer. */
typedef struct group {
    int n_batches;   /* batches read */
    int rows_before; /* sequences of the group's batches before this rank's */
    int rows_all;    /* sequences of all of them */
} group;

/* This rank's batch's activations (in st->x, and in host memory when
 * asked) from the loader's batch lb; `need`: the budget tokens it may use,
 * with one backend only the rows it needs are run. */
static int run_batch(stream *st, const mlsae_batch *lb, uint64_t need, mlsae_stream_batch *b,
                     mlsae_error *err)
{
    mlsae_session *s = st->s;
    uint64_t rows_needed = (need + (uint64_t)st->seq - 1) / (uint64_t)st->seq;
    b->rows = rows_needed < lb->rows ? (int)rows_needed : (int)lb->rows;
    b->ids = lb->ids;
    if (st->ids) { /* the loader's ids last only until its next batch */
        memcpy(st->ids, lb->ids, (size_t)b->rows * st->seq * sizeof *st->ids);
        b->ids = st->ids;
    }
    size_t bytes = (size_t)s->n_layers * b->rows * st->seq * s->d_model * sizeof(float);
    if (mlsae_session_split(s)) {
        /* two backends on this thread: through host memory */
        if (mlsae_session_activations_host(s, lb->ids, b->rows, st->seq, st->x_host, err))
            return -1;
        if (s->sae_be->ops->core.write(s->sae_be, st->x, 0, st->x_host, bytes))
            return mlsae_fail(err, "activations to the SAE's backend: %s",
                              mlsae_backend_error(s->sae_be));
        b->x_host = st->opt->host_activations ? st->x_host : NULL;
        return 0;
    }
    if (mlsae_session_activations(s, lb->ids, b->rows, st->seq, mlsae_at(st->x, 0), err))
        return -1;
    if (st->x_host) {
        if (s->sae_be->ops->core.read(s->sae_be, st->x, 0, st->x_host, bytes))
            return mlsae_fail(err, "activations to host memory: %s",
                              mlsae_backend_error(s->sae_be));
        b->x_host = st->x_host;
    }
    return 0;
}

/* The next group of batches and this rank's batch of it (b->rows 0 when
 * it is past the data or the budget): 1, 0 at the end of the data, -1 on
 * error. `tokens`: the budget tokens of the earlier groups. */
static int next_group(stream *st, uint64_t tokens, uint64_t budget, mlsae_stream_batch *b,
                      group *g, mlsae_error *err)
{
    mlsae_session *s = st->s;
    memset(g, 0, sizeof *g);
    double c0 = mlsae_monotonic_seconds(NULL);
    if (st->prefetch) {
        mlsae_prefetched p;
        int got = mlsae_prefetch_next(st->prefetch, &p, err);
        double c1 = mlsae_monotonic_seconds(NULL);
        st->sum->wait_s += c1 - c0;
        b->position = p.position;
        if (got <= 0) return got;
        g->n_batches = p.n_batches;
        g->rows_before = p.rows_before;
        g->rows_all = p.rows_all;
        if (p.rows == 0 || tokens + (uint64_t)p.rows_before * st->seq >= budget) return 1;
        size_t bytes = (size_t)s->n_layers * p.rows * st->seq * s->d_model * sizeof(float);
        if (s->sae_be->ops->core.write(s->sae_be, st->x, 0, p.x, bytes))
            return mlsae_fail(err, "activations to the SAE's backend: %s",
                              mlsae_backend_error(s->sae_be));
        st->sum->upload_s += mlsae_monotonic_seconds(NULL) - c1;
        b->ids = p.ids;
        b->rows = p.rows;
        b->x_host = st->opt->host_activations ? p.x : NULL;
        return 1;
    }
    for (int j = 0; j < st->ranks; j++) {
        mlsae_batch lb;
        int got = mlsae_loader_next(st->loader, &lb, err);
        double c1 = mlsae_monotonic_seconds(NULL);
        st->sum->data_s += c1 - c0;
        c0 = c1;
        if (got < 0) return -1;
        if (got == 0) break;
        g->n_batches++;
        if (j < st->rank) g->rows_before += (int)lb.rows;
        g->rows_all += (int)lb.rows;
        if (j != st->rank) continue;
        uint64_t before = tokens + (uint64_t)g->rows_before * st->seq;
        if (before < budget && run_batch(st, &lb, budget - before, b, err)) return -1;
        c0 = mlsae_monotonic_seconds(NULL);
        st->sum->forward_s += c0 - c1;
    }
    mlsae_loader_position(st->loader, &b->position);
    return g->n_batches > 0;
}

static int transform(stream *st, const mlsae_stream_batch *b, mlsae_error *err)
{
    mlsae_session *s = st->s;
    size_t per_layer = (size_t)b->rows_per_layer * s->d_model;
    for (int l = 0; l < s->n_layers; l++)
        if (st->opt->transform(st->opt->transform_ctx, s->sae_be, l, s->layers[l],
                               mlsae_at(st->x, l * per_layer), b->rows_per_layer, s->d_model,
                               err))
            return -1;
    if (b->x_host) {
        /* keep the host copy equal to what the SAE sees */
        size_t bytes = (size_t)s->n_layers * per_layer * sizeof(float);
        if (s->sae_be->ops->core.read(s->sae_be, st->x, 0, (void *)b->x_host, bytes))
            return mlsae_fail(err, "activations to host memory: %s",
                              mlsae_backend_error(s->sae_be));
    }
    return 0;
}

static int encode(stream *st, mlsae_stream_batch *b, mlsae_error *err)
{
    mlsae_sae *sae = st->opt->sae;
    mlsae_backend *be = st->s->sae_be;
    mlsae_sae_forward_out fo;
    mlsae_ref x = mlsae_at(st->x, 0);
    if (mlsae_sae_encode(sae, x, b->n_layers, b->rows_per_layer, &fo, err)) return -1;
    size_t bytes = (size_t)fo.rows * fo.k * 4;
    if (be->ops->core.read(be, fo.values.buf, fo.values.off * 4, st->values, bytes) ||
        be->ops->core.read(be, fo.indices.buf, fo.indices.off * 4, st->indices, bytes))
        return mlsae_fail(err, "TopK to host memory: %s", mlsae_backend_error(be));
    b->k = fo.k;
    b->values = st->values;
    b->indices = st->indices;
    if (!st->opt->decode && !st->opt->metrics) return 0;
    if (mlsae_sae_decode_last(sae, x, &fo, st->opt->metrics ? st->metrics : NULL, err))
        return -1;
    b->recons = fo.recons;
    if (st->opt->metrics) b->metrics = st->metrics;
    return 0;
}

int mlsae_stream_run(const mlsae_run_config *cfg, mlsae_session *s,
                     const mlsae_stream_options *opt, mlsae_stream_consumer consume, void *ctx,
                     mlsae_stream_summary *summary, mlsae_error *err)
{
    mlsae_stream_summary sum_local;
    mlsae_stream_summary *sum = summary ? summary : &sum_local;
    memset(sum, 0, sizeof *sum);
    if (mlsae_session_check_data(s, cfg, err)) return -1;
    double t0 = mlsae_monotonic_seconds(NULL);
    uint64_t budget = opt->max_tokens;
    if (budget == 0) {
        double mt = cfg->data.max_tokens;
        if (!(mt >= 1) || mt > 1e18)
            return mlsae_fail(err, "data.max_tokens: %g is not a token count >= 1", mt);
        budget = (uint64_t)mt;
    }
    stream st;
    memset(&st, 0, sizeof st);
    st.cfg = cfg;
    st.s = s;
    st.opt = opt;
    st.sum = sum;
    mlsae_progress prog;
    int prog_on = 0, rc = -1;
    if (stream_init(&st, err)) goto done;
    if (opt->progress && st.rank == 0) {
        mlsae_progress_options po;
        mlsae_progress_options_default(&po);
        po.unit = "tok";
        mlsae_progress_start(&prog, opt->progress, opt->label ? opt->label : "stream", 0, budget,
                             &po);
        prog_on = 1;
    }
    const uint64_t per_batch = (uint64_t)st.batch * st.seq;
    for (int64_t n_group = 0; sum->tokens < budget; n_group++) {
        mlsae_stream_batch b;
        memset(&b, 0, sizeof b);
        group g;
        int got = next_group(&st, sum->tokens, budget, &b, &g, err);
        if (got < 0) goto done;
        if (got == 0 || (opt->whole_groups && g.n_batches < st.ranks)) {
            sum->data_ended = 1;
            sum->end = b.position;
            break;
        }
        int c = 0;
        uint64_t before = sum->tokens + (uint64_t)g.rows_before * st.seq;
        if (b.rows > 0) {
            b.index = n_group * st.ranks + st.rank;
            b.seq = st.seq;
            b.n_layers = s->n_layers;
            b.d_model = s->d_model;
            b.rows_per_layer = b.rows * st.seq;
            b.rows_all = g.rows_all;
            uint64_t left = budget - before;
            b.n_tokens = left < (uint64_t)b.rows_per_layer ? (int)left : b.rows_per_layer;
            b.tokens_before = before;
            b.x = mlsae_at(st.x, 0);
            b.progress = prog_on ? &prog : NULL;
            if (opt->transform && transform(&st, &b, err)) goto done;
            if (opt->sae && encode(&st, &b, err)) goto done;
            b.stream = &st;
            if ((c = consume(ctx, &b, err)) < 0) goto done;
        }
        /* every batch of the group before the data's last is full, so batch
         * j starts j full batches after the group's first */
        for (int j = 0; j < g.n_batches; j++)
            if (sum->tokens + (uint64_t)j * per_batch < budget) sum->batches++;
        uint64_t group_tokens = (uint64_t)g.rows_all * st.seq, left = budget - sum->tokens;
        sum->tokens += group_tokens < left ? group_tokens : left;
        if (prog_on) mlsae_progress_update(&prog, sum->tokens);
        if (st.ranks > 1 && mlsae_comm_or(&c, err)) goto done;
        if (c > 0) break;
    }
    if (sum->batches == 0 && !opt->allow_empty) {
        mlsae_fail(err, "%s: no complete sequence of %d tokens in the data", cfg->data.path,
                   st.seq);
        goto done;
    }
    rc = 0;
done:
    if (prog_on) mlsae_progress_finish(&prog);
    if (st.prefetch) {
        mlsae_prefetch_times pt;
        mlsae_prefetch_get_times(st.prefetch, &pt);
        sum->data_s = pt.data_s;
        sum->forward_s = pt.forward_s;
        sum->overlapped = 1;
    }
    stream_free(&st);
    sum->seconds = mlsae_monotonic_seconds(NULL) - t0;
    return rc;
}
