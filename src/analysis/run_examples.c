/* mlsae examples: bounded top-n heaps over the stream, then one SQLite
 * transaction with the reference's schema (mlsae/analysis/examples.py,
 * create_db). */
#include "config.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/examples.h"
#include "analysis/run_common.h"
#include "pipeline/comm.h"
#include "pipeline/stream.h"

static int consume(void *ctx, const mlsae_stream_batch *b, mlsae_error *err)
{
    return mlsae_examples_update(ctx, b->ids, b->rows, b->seq, b->values, b->indices, b->k,
                                 b->n_tokens, b->tokens_before, err);
}

/* Over MPI (doc/scaling.md): every rank's heaps into rank 0's, in rounds of
 * slots so that rank 0 receives at most 1 GiB at a time. The merged heaps
 * are the one-process heaps exactly (examples.h: a strict total order over
 * the stream's positions). */
static int gather_heaps(void *ctx, mlsae_error *err)
{
    mlsae_examples *ex = ctx;
    const int rank = mlsae_comm_rank(), ranks = mlsae_comm_size();
    if (ranks <= 1) return 0;
    const size_t slots = (size_t)ex->n_latents * ex->n_layers;
    const size_t per_slot = sizeof(int32_t) + (size_t)ex->n_examples * ex->stride;
    size_t step = ((size_t)1 << 30) / (size_t)ranks / per_slot;
    if (step < 1) step = 1;
    uint64_t *sizes = malloc((size_t)ranks * sizeof *sizes);
    if (!sizes) return mlsae_fail(err, "out of memory");
    int rc = -1;
    for (size_t s0 = 0; s0 < slots; s0 += step) {
        size_t s1 = slots - s0 < step ? slots : s0 + step;
        /* rank 0's own heaps are already in place: it sends nothing */
        size_t bytes = rank == 0 ? 0 : mlsae_examples_packed_size(ex, s0, s1);
        unsigned char *mine = malloc(bytes ? bytes : 1), *all = NULL;
        if (!mine) {
            mlsae_fail(err, "out of memory for %zu bytes of examples", bytes);
            goto done;
        }
        if (bytes) mlsae_examples_pack(ex, s0, s1, mine);
        int failed = mlsae_comm_gather_bytes(mine, bytes, 0, &all, sizes, err);
        free(mine);
        if (failed) goto done;
        if (rank == 0) {
            size_t off = sizes[0];
            for (int r = 1; r < ranks && !failed; r++) {
                failed = mlsae_examples_merge_packed(ex, s0, s1, all + off, sizes[r], err);
                off += sizes[r];
            }
        }
        free(all);
        if (failed) goto done;
    }
    rc = 0;
done:
    free(sizes);
    return rc;
}

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS examples (\n"
    "    id INTEGER PRIMARY KEY,\n"
    "    latent INTEGER,\n"
    "    layer INTEGER,\n"
    "    token_id INTEGER,\n"
    "    token TEXT,\n"
    "    act REAL,\n"
    "    token_ids JSON,\n"
    "    tokens JSON,\n"
    "    acts JSON\n"
    ")";

/* JSON text as Python's json.dumps writes it: ", " between items, non-ASCII
 * escaped. */
static char *dumps(json_t *v)
{
    char *s = v ? json_dumps(v, JSON_ENSURE_ASCII | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(v);
    return s;
}

typedef struct db_writer {
    sqlite3 *db;
    sqlite3_stmt *ins;
    const mlsae_tokenizer *tok;
} db_writer;

static int db_fail(db_writer *w, const char *path, mlsae_error *err)
{
    return mlsae_fail(err, "%s: %s", path, w->db ? sqlite3_errmsg(w->db) : "cannot open");
}

static int insert_one(db_writer *w, int latent, int layer, const mlsae_example *e, int n_tokens,
                      const char *path, mlsae_error *err)
{
    char *token = NULL;
    size_t len;
    if (mlsae_tokenizer_decode(w->tok, &e->token_id, 1, 0, &token, &len, err)) return -1;
    json_t *ids = json_array(), *toks = json_array(), *acts = json_array();
    const int32_t *cid = mlsae_example_ids(e);
    const float *cact = mlsae_example_acts(e, n_tokens);
    for (int i = 0; i < e->n_ctx; i++) {
        const char *t = mlsae_tokenizer_id_to_token(w->tok, cid[i]);
        json_array_append_new(ids, json_integer(cid[i]));
        json_array_append_new(toks, t ? json_string(t) : json_null());
        json_array_append_new(acts, json_real(cact[i]));
    }
    char *s_ids = dumps(ids), *s_toks = dumps(toks), *s_acts = dumps(acts);
    int rc = -1;
    if (!s_ids || !s_toks || !s_acts) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    sqlite3_reset(w->ins);
    sqlite3_bind_int(w->ins, 1, latent);
    sqlite3_bind_int(w->ins, 2, layer);
    sqlite3_bind_int(w->ins, 3, e->token_id);
    sqlite3_bind_text(w->ins, 4, token, (int)len, SQLITE_STATIC);
    sqlite3_bind_double(w->ins, 5, e->act);
    sqlite3_bind_text(w->ins, 6, s_ids, -1, SQLITE_STATIC);
    sqlite3_bind_text(w->ins, 7, s_toks, -1, SQLITE_STATIC);
    sqlite3_bind_text(w->ins, 8, s_acts, -1, SQLITE_STATIC);
    if (sqlite3_step(w->ins) != SQLITE_DONE) {
        db_fail(w, path, err);
        goto done;
    }
    rc = 0;
done:
    free(token);
    free(s_ids);
    free(s_toks);
    free(s_acts);
    return rc;
}

/* Write every heap into a new database at tmp (one transaction). */
static int write_db(mlsae_examples *ex, const mlsae_tokenizer *tok, const char *tmp,
                    mlsae_error *err)
{
    db_writer w = {NULL, NULL, tok};
    int rc = -1;
    remove(tmp);
    if (sqlite3_open_v2(tmp, &w.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(w.db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;", NULL, NULL,
                     NULL) != SQLITE_OK ||
        sqlite3_exec(w.db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(w.db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(w.db,
                           "INSERT INTO examples (latent, layer, token_id, token, act, "
                           "token_ids, tokens, acts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           -1, &w.ins, NULL) != SQLITE_OK) {
        db_fail(&w, tmp, err);
        goto done;
    }
    for (int j = 0; j < ex->n_latents; j++)
        for (int l = 0; l < ex->n_layers; l++) {
            unsigned char *h;
            int n = mlsae_examples_sorted(ex, j, l, &h);
            for (int i = 0; i < n; i++)
                if (insert_one(&w, j, l, (const mlsae_example *)(h + (size_t)i * ex->stride),
                               ex->n_tokens, tmp, err))
                    goto done;
        }
    sqlite3_finalize(w.ins);
    w.ins = NULL;
    if (sqlite3_exec(w.db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        db_fail(&w, tmp, err);
        goto done;
    }
    rc = 0;
done:
    if (w.ins) sqlite3_finalize(w.ins);
    if (w.db && sqlite3_close(w.db) != SQLITE_OK && rc == 0)
        rc = mlsae_fail(err, "%s: cannot close the database", tmp);
    return rc;
}

int mlsae_analysis_examples(const mlsae_run_config *cfg, const mlsae_ckpt_source *ckpt,
                            const mlsae_examples_options *opt, const char *out_dir,
                            FILE *progress, mlsae_analysis_result *res, mlsae_error *err)
{
    memset(res, 0, sizeof *res);
    char stem[2048], name[2200], tmp[4300];
    if (opt->n_examples < 1 || opt->n_tokens < 0 || opt->n_tokens > 128)
        return mlsae_fail(err, "n_examples must be >= 1 and n_tokens in 0..128");
    if (analysis_artefact_stem(ckpt, "examples", stem, sizeof stem, err) ||
        mlsae_analysis_out_dir(out_dir, err))
        return -1;
    snprintf(name, sizeof name, "%s.db", stem);
    if (analysis_check_output(out_dir, name, err)) return -1;
    mlsae_session s;
    mlsae_sae *sae = NULL;
    if (mlsae_session_open_sae(&s, cfg, ckpt->dir, 0, &sae, err)) return -1;
    mlsae_examples ex;
    memset(&ex, 0, sizeof ex);
    int rc = -1;
    const mlsae_sae_config *sc = mlsae_sae_get_config(sae);
    if (mlsae_examples_init(&ex, sc->n_latents, s.n_layers, opt->n_examples, opt->n_tokens, err))
        goto done;
    int writer = analysis_stream(cfg, &s, sae, progress, "examples",
                                 consume, &ex, gather_heaps, res, err);
    if (writer <= 0) {
        rc = writer; /* -1: failed; 0: rank 0 writes, not this rank */
        goto done;
    }
    snprintf(name, sizeof name, "%s.db", stem);
    const char *path = analysis_add_file(res, out_dir, name, err);
    if (!path) goto done;
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (write_db(&ex, s.tok, tmp, err)) {
        remove(tmp);
        res->n_files = 0;
        goto done;
    }
    if (rename(tmp, path) != 0) {
        mlsae_fail_errno(err, "%s: cannot rename into place", path);
        remove(tmp);
        res->n_files = 0;
        goto done;
    }
    rc = 0;
done:
    mlsae_examples_free(&ex);
    mlsae_sae_free(sae);
    mlsae_session_close(&s);
    return rc;
}
