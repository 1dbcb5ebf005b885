/* SHA-256 (FIPS 180-4), streaming. Names downloaded blobs when the hub
 * endpoint sends no ETag, and checks LFS downloads (whose ETag is the
 * SHA-256 of the content). */
#ifndef MLSAE_HUB_SHA256_H
#define MLSAE_HUB_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct mlsae_sha256 {
    uint32_t h[8];
    uint64_t n_bytes;      /* total bytes fed */
    unsigned char buf[64]; /* pending partial block */
} mlsae_sha256;

void mlsae_sha256_init(mlsae_sha256 *s);
void mlsae_sha256_update(mlsae_sha256 *s, const void *data, size_t n);
/* Finish and write 64 lowercase hex digits + NUL into hex. */
void mlsae_sha256_hex(mlsae_sha256 *s, char hex[65]);

#endif
