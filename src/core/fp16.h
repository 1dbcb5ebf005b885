/* IEEE half (F16) and bfloat16 (BF16) to/from float32. */
#ifndef MLSAE_CORE_FP16_H
#define MLSAE_CORE_FP16_H

#include <stdint.h>
#include <string.h>

/* The bits of a float32, and the float32 of given bits. */
static inline uint32_t mlsae_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float mlsae_f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline float mlsae_bf16_to_f32(uint16_t h)
{
    return mlsae_f32_from_bits((uint32_t)h << 16);
}

/* Round to nearest even, NaN kept quiet. */
static inline uint16_t mlsae_f32_to_bf16(float f)
{
    uint32_t u = mlsae_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float mlsae_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do { e++; man <<= 1; } while (!(man & 0x400u));
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    return mlsae_f32_from_bits(u);
}

/* Round to nearest even with overflow to infinity. */
static inline uint16_t mlsae_f32_to_f16(float f)
{
    uint32_t u = mlsae_f32_bits(f);
    uint32_t sign = (u >> 16) & 0x8000u;
    int32_t exp = (int32_t)((u >> 23) & 0xff) - 127 + 15;
    uint32_t man = u & 0x7fffffu;
    if (((u >> 23) & 0xff) == 0xff) /* inf or nan */
        return (uint16_t)(sign | 0x7c00u | (man ? 0x200u : 0));
    if (exp >= 31) return (uint16_t)(sign | 0x7c00u);
    if (exp <= 0) {
        if (exp < -10) return (uint16_t)sign;
        man |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - exp);
        uint32_t half = 1u << (shift - 1);
        uint32_t rounded = (man + half - 1 + ((man >> shift) & 1u)) >> shift;
        return (uint16_t)(sign | rounded);
    }
    uint32_t h = sign | ((uint32_t)exp << 10) | (man >> 13);
    uint32_t rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;
    return (uint16_t)h;
}

/* x rounded to the nearest bf16 / F16 value, as float32 (mixed precision). */
static inline float mlsae_round_bf16(float x) { return mlsae_bf16_to_f32(mlsae_f32_to_bf16(x)); }
static inline float mlsae_round_f16(float x) { return mlsae_f16_to_f32(mlsae_f32_to_f16(x)); }

#endif
