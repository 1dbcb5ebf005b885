/* Special-token masking (SPEC §2, skip_special_tokens): the activation
 * vectors at eos / pad / bos positions are zeroed before the SAE sees them. */
#include "config.h"
#include "model/neox.h"

#include <string.h>

static int is_special(int32_t id, const int32_t *special, int n_special)
{
    for (int i = 0; i < n_special; i++)
        if (special[i] >= 0 && special[i] == id) return 1;
    return 0;
}

void mlsae_mask_special_tokens_host(float *x, int n_slices, const int32_t *tokens,
                                    size_t n_tokens, int d, const int32_t *special, int n_special)
{
    for (size_t i = 0; i < n_tokens; i++) {
        if (!is_special(tokens[i], special, n_special)) continue;
        for (int s = 0; s < n_slices; s++)
            memset(x + ((size_t)s * n_tokens + i) * d, 0, (size_t)d * sizeof(float));
    }
}

int mlsae_mask_special_tokens(mlsae_backend *be, mlsae_ref x, int n_slices,
                              const int32_t *tokens, size_t n_tokens, int d,
                              const int32_t *special, int n_special, mlsae_error *err)
{
    for (size_t i = 0; i < n_tokens; i++) {
        if (!is_special(tokens[i], special, n_special)) continue;
        /* a run of special tokens is zeroed with one fill per slice */
        size_t j = i + 1;
        while (j < n_tokens && is_special(tokens[j], special, n_special)) j++;
        for (int s = 0; s < n_slices; s++)
            if (be->ops->core.fill(be, mlsae_ref_add(x, ((size_t)s * n_tokens + i) * d),
                                   (j - i) * (size_t)d, 0.0f))
                return mlsae_fail(err, "%s", mlsae_backend_error(be));
        i = j - 1;
    }
    return 0;
}
