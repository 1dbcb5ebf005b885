/* Byte-level alphabet (see bytelevel.h). */
#include "config.h"
#include "tokenizer/bytelevel.h"

static int stands_for_itself(int b)
{
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

void mlsae_bytelevel_tables(uint32_t byte_to_cp[256], int16_t cp_to_byte[MLSAE_BYTELEVEL_MAX_CP])
{
    for (int c = 0; c < MLSAE_BYTELEVEL_MAX_CP; c++) cp_to_byte[c] = -1;
    uint32_t next = 0x100;
    for (int b = 0; b < 256; b++) {
        byte_to_cp[b] = stands_for_itself(b) ? (uint32_t)b : next++;
        cp_to_byte[byte_to_cp[b]] = (int16_t)b;
    }
}
