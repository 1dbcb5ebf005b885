/* encode: the SAE latents of a prompt, layer by layer, with libmlsae.
 *
 *   cc encode.c $(pkg-config --cflags --libs libmlsae) -o encode
 *   ./encode [--device D] [--top N] MODEL SAE_DIR [PROMPT]
 *
 * MODEL is a Hugging Face GPT-NeoX directory or repo id (EleutherAI/pythia-70m-deduped),
 * SAE_DIR a multi-layer SAE checkpoint trained on that model's residual
 * stream. For each token of the prompt and each layer, prints the N largest
 * TopK latents as index(value). */
#include <mlsae.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what)
{
    fprintf(stderr, "encode: %s: %s\n", what, mlsae_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    const char *device = "auto", *prompt = "The quick brown fox jumps over the lazy dog.";
    int top = 3, argi = 1;
    for (; argi + 1 < argc && strncmp(argv[argi], "--", 2) == 0; argi += 2) {
        if (strcmp(argv[argi], "--device") == 0) device = argv[argi + 1];
        else if (strcmp(argv[argi], "--top") == 0) top = atoi(argv[argi + 1]);
        else break;
    }
    if (argc - argi < 2 || argc - argi > 3 || top < 1) {
        fprintf(stderr, "usage: encode [--device D] [--top N] MODEL SAE_DIR [PROMPT]\n");
        return 2;
    }
    const char *model_name = argv[argi], *sae_dir = argv[argi + 1];
    if (argc - argi == 3) prompt = argv[argi + 2];
    if (strcmp(MLSAE_VERSION_STRING, mlsae_version()) != 0)
        fprintf(stderr, "encode: built with mlsae.h %s, running libmlsae %s\n",
                MLSAE_VERSION_STRING, mlsae_version());

    mlsae_device *dev = NULL;
    mlsae_transformer *tfm = NULL;
    mlsae_autoencoder *ae = NULL;
    mlsae_vocab *vocab = NULL;
    int32_t *ids = NULL, *indices = NULL;
    float *hidden = NULL, *values = NULL;
    int rc = 1;

    if (mlsae_device_open(device, NULL, &dev)) return fail(device);
    if (mlsae_transformer_load(dev, model_name, NULL, &tfm)) { rc = fail(model_name); goto done; }
    if (mlsae_autoencoder_load(dev, sae_dir, 0, &ae)) { rc = fail(sae_dir); goto done; }
    if (mlsae_vocab_load(NULL, &vocab)) { rc = fail("tokenizer"); goto done; }

    /* Count the tokens, then fetch them. */
    size_t n = 0;
    if (mlsae_tokenize(vocab, prompt, strlen(prompt), NULL, 0, &n) != MLSAE_ERR_SIZE || n == 0) {
        fprintf(stderr, "encode: the prompt has no tokens\n");
        goto done;
    }
    ids = malloc(n * sizeof *ids);
    if (!ids || mlsae_tokenize(vocab, prompt, strlen(prompt), ids, n, &n)) {
        rc = fail("tokenize");
        goto done;
    }
    const int seq = (int)n, n_layers = mlsae_transformer_n_layers(tfm);
    const int d = mlsae_transformer_d_model(tfm), k = mlsae_autoencoder_k(ae);
    if (seq > mlsae_transformer_max_positions(tfm)) {
        fprintf(stderr, "encode: %d tokens; the model takes at most %d\n", seq,
                mlsae_transformer_max_positions(tfm));
        goto done;
    }
    if (mlsae_autoencoder_n_inputs(ae) != d) {
        fprintf(stderr, "encode: the SAE takes %d inputs, the model's d_model is %d\n",
                mlsae_autoencoder_n_inputs(ae), d);
        goto done;
    }
    if (top > k) top = k;

    /* Hidden states of every layer [n_layers, 1, seq, d], then the latents of
     * each of those n_layers * seq vectors [n_layers * seq, k]. */
    const size_t rows = (size_t)n_layers * seq;
    hidden = malloc(rows * d * sizeof *hidden);
    indices = malloc(rows * k * sizeof *indices);
    values = malloc(rows * k * sizeof *values);
    if (!hidden || !indices || !values) {
        fprintf(stderr, "encode: out of memory\n");
        goto done;
    }
    if (mlsae_transformer_hidden_states(tfm, ids, 1, seq, NULL, 0, hidden)) {
        rc = fail("hidden states");
        goto done;
    }
    if (mlsae_autoencoder_encode(ae, hidden, n_layers, seq, indices, values, NULL)) {
        rc = fail("encode");
        goto done;
    }

    printf("%s on %s; SAE %d -> %d latents, k = %d; %d tokens\n", model_name,
           mlsae_device_describe(dev), d, mlsae_autoencoder_n_latents(ae), k, seq);
    for (int p = 0; p < seq; p++) {
        char piece[256];
        size_t len;
        if (mlsae_detokenize(vocab, &ids[p], 1, 0, piece, sizeof piece, &len))
            snprintf(piece, sizeof piece, "#%d", (int)ids[p]);
        printf("token %d %6d %-16s", p, (int)ids[p], piece);
        for (int l = 0; l < n_layers; l++) {
            const size_t r = (size_t)l * seq + p;
            printf(" | L%d", l);
            for (int j = 0; j < top; j++)
                printf(" %d(%.3f)", (int)indices[r * k + j], values[r * k + j]);
        }
        printf("\n");
    }
    rc = 0;
done:
    free(ids), free(indices), free(hidden), free(values);
    mlsae_vocab_free(vocab);
    mlsae_autoencoder_free(ae);
    mlsae_transformer_free(tfm);
    mlsae_device_free(dev);
    return rc;
}
