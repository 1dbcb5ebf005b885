/* MLSAE checkpoint + training state: the input is config.json, then (after
 * "\n--8<--\n" separators) model.safetensors and training_state.safetensors.
 * What loads holds only finite weights and moments. */
#include "config.h"
#include "fuzz_util.h"
#include "backend/backend.h"
#include "sae/checkpoint.h"
#include "sae/mlsae.h"

#include <math.h>
#include <sys/stat.h>

static mlsae_backend *be;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mlsae_error err;
    if (!be) {
        mlsae_backend_params params = {0};
        params.n_threads = 1;
        if (mlsae_backend_cpu_new(&params, &be, &err)) abort();
    }
    char dir[512];
    snprintf(dir, sizeof dir, "%s/ck", fuzz_dir());
    mkdir(dir, 0777);
    static const char *names[3] = {"ck/config.json", "ck/model.safetensors",
                                   "ck/training_state.safetensors"};
    for (int k = 0; k < 3; k++) {
        size_t n;
        const uint8_t *p = fuzz_part(data, size, k, &n);
        fuzz_write(names[k], p, n);
    }
    mlsae_sae *sae;
    if (mlsae_ckpt_load(dir, be, &sae, &err)) return 0;
    const mlsae_sae_config *c = mlsae_sae_get_config(sae);
    size_t nd = (size_t)c->n_latents * c->n_inputs;
    float *enc = malloc(nd * 4), *bias = malloc((size_t)c->n_inputs * 4);
    if (enc && bias && mlsae_sae_get_params(sae, enc, NULL, bias, NULL, &err) == 0) {
        for (size_t i = 0; i < nd; i++)
            if (!isfinite(enc[i])) abort();
        for (int i = 0; i < c->n_inputs; i++)
            if (!isfinite(bias[i])) abort();
    }
    free(enc);
    free(bias);
    mlsae_ckpt_resume_out ro;
    if (mlsae_ckpt_load_state(sae, dir, &ro, &err) == 0) free(ro.user_state);
    mlsae_sae_free(sae);
    return 0;
}
