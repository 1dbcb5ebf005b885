/* The tokenizer's data, shared by tokenizer_load.c and tokenizer_encode.c. */
#ifndef MLSAE_TOKENIZER_TOKENIZER_INTERNAL_H
#define MLSAE_TOKENIZER_TOKENIZER_INTERNAL_H

#include <pthread.h>
#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/strmap.h"
#include "tokenizer/tokenizer.h"

/* Scratch space of one encoding thread; kept in the tokenizer's pool. */
typedef struct mlsae_tok_workspace {
    mlsae_bpe_work bpe;
    mlsae_strmap cache;   /* piece bytes -> (offset << 24 | count) into cache_ids */
    mlsae_ids cache_ids;
    struct mlsae_tok_workspace *next_free;
} mlsae_tok_workspace;

struct mlsae_tokenizer {
    size_t vocab_size;         /* max id + 1 */
    char *strings;             /* every token string, NUL-terminated */
    size_t *string_off;        /* [vocab_size], SIZE_MAX: no token with this id */
    unsigned char *bytes;      /* every token's decoded bytes */
    size_t *bytes_off;         /* [vocab_size + 1] */
    uint8_t *special;          /* [vocab_size] */
    mlsae_strmap ids_by_string;
    mlsae_bpe bpe;
    mlsae_token_trie raw_added;  /* normalized=false: matched on the raw text */
    mlsae_token_trie norm_added; /* normalized=true: matched after NFC */
    int nfc;
    int32_t eos_id, bos_id, pad_id;
    pthread_mutex_t pool_lock;
    mlsae_tok_workspace *pool;
};

#endif
