#include "config.h"
#include "analysis/exact_sum.h"

#include <math.h>
#include <string.h>

void mlsae_exact_add_f32(int64_t *acc, double *special, float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    uint32_t e = (u >> 23) & 0xff, m = u & 0x7fffff;
    if (e == 0xff) {
        *special += x;
        return;
    }
    if (e) m |= 0x800000; /* normal: x = m 2^(e - 150) */
    else e = 1;           /* subnormal: x = m 2^-149 */
    const int p = (int)e - 1, i = p >> 5;
    const uint64_t w = (uint64_t)m << (p & 31);
    const int64_t lo = (int64_t)(w & 0xffffffffu), hi = (int64_t)(w >> 32);
    if (u >> 31) {
        acc[i] -= lo;
        acc[i + 1] -= hi;
    } else {
        acc[i] += lo;
        acc[i + 1] += hi;
    }
}

void mlsae_exact_normalize(int64_t *acc)
{
    for (int i = 0; i + 1 < MLSAE_EXACT_LIMBS; i++) {
        int64_t low = acc[i] & (int64_t)0xffffffff;
        acc[i + 1] += (acc[i] - low) / ((int64_t)1 << 32);
        acc[i] = low;
    }
}

double mlsae_exact_value(const int64_t *acc, double special)
{
    double v = 0;
    for (int i = MLSAE_EXACT_LIMBS - 1; i >= 0; i--) v = v * 4294967296.0 + (double)acc[i];
    return ldexp(v, -149) + special;
}
