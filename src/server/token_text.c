/* The reference's replace_special (mlsae/api/analyser.py, after sae_vis'
 * utils_fns): byte-level BPE markers made readable, in the table's order. */
#include "config.h"
#include "server/analyser.h"

#include <stdlib.h>
#include <string.h>

static const char *const table[][2] = {
    {"\xc3\xa2\xc4\xa2\xc4\xb6", "\xe2\x80\x94"}, /* "âĢĶ" -> em dash */
    {"\xc3\xa2\xc4\xa2\xc4\xb5", "\xe2\x80\x93"}, /* "âĢĵ" -> en dash */
    {"\xc3\xa2\xc4\xa2\xc4\xad", ""},             /* "âĢĭ" -> (zero-width space dropped) */
    {"\xc3\xa2\xc4\xa2\xc4\xbe", "\""},           /* "âĢľ" -> " */
    {"\xc3\xa2\xc4\xa2\xc4\xbf", "\""},           /* "âĢĿ" -> " */
    {"\xc3\xa2\xc4\xa2\xc4\xba", "'"},            /* "âĢĺ" -> ' */
    {"\xc3\xa2\xc4\xa2\xc4\xbb", "'"},            /* "âĢĻ" -> ' */
    {"\xc4\xa0", " "},                            /* "Ġ" */
    {"\xc4\x8a", "\n"},                           /* "Ċ" */
    {"\xc4\x89", "\t"},                           /* "ĉ" */
};

/* s with every `from` replaced by `to` (never longer than s). */
static void replace_all(char *s, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to);
    char *w = s;
    for (const char *r = s; *r;) {
        if (strncmp(r, from, fl) == 0) {
            memmove(w, to, tl);
            w += tl;
            r += fl;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
}

char *mlsae_replace_special(const char *token)
{
    char *s = strdup(token ? token : "");
    if (!s) return NULL;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) replace_all(s, table[i][0], table[i][1]);
    return s;
}
