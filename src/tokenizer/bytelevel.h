/* The byte-level alphabet of GPT-2 style BPE: each of the 256 byte values is
 * written as one printable code point. Bytes '!'..'~', 0xA1..0xAC and
 * 0xAE..0xFF stand for themselves; the other 68 bytes (controls, space, DEL,
 * 0x80..0xA0, 0xAD) take U+0100, U+0101, ... in increasing byte order, so that
 * the space 0x20 is U+0120 'Ġ' and the newline 0x0A is U+010A 'Ċ'. */
#ifndef MLSAE_TOKENIZER_BYTELEVEL_H
#define MLSAE_TOKENIZER_BYTELEVEL_H

#include <stdint.h>

#define MLSAE_BYTELEVEL_MAX_CP 0x144 /* all alphabet code points are below this */

/* byte_to_cp[b]: the code point of byte b; cp_to_byte[c]: byte of code point
 * c (c < MLSAE_BYTELEVEL_MAX_CP), or -1 when c is not in the alphabet. */
void mlsae_bytelevel_tables(uint32_t byte_to_cp[256], int16_t cp_to_byte[MLSAE_BYTELEVEL_MAX_CP]);

#endif
