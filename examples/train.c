/* train: a multi-layer SAE on a model's residual stream over a text file,
 * with libmlsae.
 *
 *   cc train.c $(pkg-config --cflags --libs libmlsae) -o train
 *   ./train [--device D] MODEL TEXT_FILE OUT_DIR
 *
 * Tokenizes TEXT_FILE, runs it through MODEL in sequences of up to 64 tokens,
 * trains an SAE (expansion factor 4, k 8) on the hidden states of every
 * layer, 64 tokens per micro-batch, and saves it to OUT_DIR in the
 * reference's checkpoint format. */
#include <mlsae.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SEQ = 64 };

static int fail(const char *what)
{
    fprintf(stderr, "train: %s: %s\n", what, mlsae_last_error());
    return 1;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) {
            char *b = realloc(buf, cap *= 2);
            if (!b) free(buf);
            buf = b;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

static int progress(const mlsae_autoencoder_train_metrics *m, void *user_data)
{
    (void)user_data;
    printf("micro-batch %lld: loss %.4f (mse %.4f, auxk %.4f), dead %.3f, %lld Adam steps\n",
           (long long)m->micro_batch, m->loss_total, m->loss_mse, m->loss_aux, m->dead_fraction,
           (long long)m->step);
    return 0;
}

int main(int argc, char **argv)
{
    const char *device = "auto";
    int argi = 1;
    if (argc > 2 && strcmp(argv[1], "--device") == 0) device = argv[2], argi = 3;
    if (argc - argi != 3) {
        fprintf(stderr, "usage: train [--device D] MODEL TEXT_FILE OUT_DIR\n");
        return 2;
    }
    const char *model_name = argv[argi], *text_file = argv[argi + 1], *out_dir = argv[argi + 2];

    mlsae_device *dev = NULL;
    mlsae_transformer *tfm = NULL;
    mlsae_autoencoder *ae = NULL;
    mlsae_vocab *vocab = NULL;
    char *text = NULL;
    int32_t *ids = NULL;
    float *x = NULL;
    int rc = 1;

    if (mlsae_device_open(device, NULL, &dev)) return fail(device);
    if (mlsae_transformer_load(dev, model_name, NULL, &tfm)) { rc = fail(model_name); goto done; }
    if (mlsae_vocab_load(NULL, &vocab)) { rc = fail("tokenizer"); goto done; }
    size_t len, n = 0;
    if (!(text = read_file(text_file, &len))) {
        fprintf(stderr, "train: %s: cannot read\n", text_file);
        goto done;
    }
    mlsae_tokenize(vocab, text, len, NULL, 0, &n); /* the count */
    if (n < SEQ) {
        fprintf(stderr, "train: %s: %zu tokens, fewer than %d\n", text_file, n, SEQ);
        goto done;
    }
    ids = malloc(n * sizeof *ids);
    if (!ids || mlsae_tokenize(vocab, text, len, ids, n, &n)) { rc = fail("tokenize"); goto done; }

    /* Whole sequences of SEQ tokens: hidden states [n_layers, batch, SEQ, d]. */
    const int batch = (int)(n / SEQ), n_layers = mlsae_transformer_n_layers(tfm);
    const int d = mlsae_transformer_d_model(tfm);
    const int64_t rows = (int64_t)batch * SEQ;
    if (!(x = malloc((size_t)n_layers * rows * d * sizeof *x))) {
        fprintf(stderr, "train: out of memory\n");
        goto done;
    }
    if (mlsae_transformer_hidden_states(tfm, ids, batch, SEQ, NULL, 0, x)) {
        rc = fail("hidden states");
        goto done;
    }

    mlsae_autoencoder_params ap = mlsae_autoencoder_default_params();
    ap.n_inputs = d;
    ap.expansion_factor = 4;
    ap.k = 8;
    ap.auxk = 16;
    ap.accumulate_grad_batches = 1;
    if (mlsae_autoencoder_new(dev, &ap, &ae)) { rc = fail("new SAE"); goto done; }
    mlsae_autoencoder_train_params tp = mlsae_autoencoder_train_default_params();
    tp.rows_per_batch = SEQ;
    tp.callback = progress;
    mlsae_autoencoder_train_metrics last;
    if (mlsae_autoencoder_train(ae, x, n_layers, rows, &tp, &last)) { rc = fail("train"); goto done; }
    if (mlsae_autoencoder_save(ae, out_dir, 0)) { rc = fail(out_dir); goto done; }
    printf("trained on %lld tokens x %d layers: %lld Adam steps, final loss %.4f; saved %s\n",
           (long long)rows, n_layers, (long long)last.step, last.loss_total, out_dir);
    rc = 0;
done:
    free(text), free(ids), free(x);
    mlsae_autoencoder_free(ae);
    mlsae_vocab_free(vocab);
    mlsae_transformer_free(tfm);
    mlsae_device_free(dev);
    return rc;
}
