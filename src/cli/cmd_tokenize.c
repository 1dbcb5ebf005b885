/* mlsae tokenize: encode text to token ids with a HF tokenizer.json, decode
 * ids back to text, or encode JSON Lines documents in parallel. */
#include "config.h"
#include "cli/commands.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic_file.h"
#include "dataset/line_reader.h"
#include "tokenizer/tokenizer.h"

#define JSONL_CHUNK 1024 /* lines encoded together by the thread pool */

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: mlsae tokenize --tokenizer FILE [OPTIONS] [TEXT]\n"
            "\n"
            "Encode text to token ids with a Hugging Face tokenizer.json (byte-level BPE,\n"
            "GPT-NeoX-20B / Pythia), or decode ids back to text. The ids equal those of HF\n"
            "tokenizers; bytes that are not valid UTF-8 are read as U+FFFD, as Python's\n"
            "bytes.decode('utf-8', 'replace') does.\n"
            "\n"
            "Input: TEXT if given, else the file of --file, else standard input (all bytes,\n"
            "nothing stripped).\n"
            "\n"
            "Options:\n"
            "  --tokenizer FILE  the tokenizer.json to use (required)\n"
            "  --file F          read the input from F ('-' for standard input)\n"
            "  --decode          the input is token ids (separated by spaces, commas or\n"
            "                    newlines; brackets are ignored); write the text they stand\n"
            "                    for, exactly, with no newline added\n"
            "  --skip-special    with --decode: leave out special tokens (<|endoftext|>...)\n"
            "  --tokens          write token strings (byte-level alphabet) instead of ids\n"
            "  --jsonl           read JSON Lines with a \"text\" string field from the input\n"
            "                    (--file may be a .jsonl.zst) and write one {\"ids\": [...]}\n"
            "                    line per input line, in order\n"
            "  --threads N       threads for --jsonl (default 0: all CPUs)\n"
            "  -h, --help        show this help\n"
            "\n"
            "Output (encode): the ids on one line, separated by spaces.\n"
            "\n"
            "Examples:\n"
            "  mlsae tokenize --tokenizer tokenizer.json 'Hello world'\n"
            "  mlsae tokenize --tokenizer tokenizer.json --decode '12092 1533'\n"
            "  mlsae tokenize --tokenizer tokenizer.json --jsonl --file test.jsonl.zst\n");
}

typedef struct options {
    const char *tokenizer, *file, *text;
    int decode, skip_special, tokens, jsonl, threads;
} options;

static int parse_args(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_value = i + 1 < argc;
        if (strcmp(a, "--tokenizer") == 0 && has_value) {
            o->tokenizer = argv[++i];
        } else if (strcmp(a, "--file") == 0 && has_value) {
            o->file = argv[++i];
        } else if (strcmp(a, "--threads") == 0 && has_value) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 0 || v > 4096)
                return cli_error("tokenize", "--threads: expected a number 0..4096, got '%s'", argv[i]);
            o->threads = (int)v;
        } else if (strcmp(a, "--decode") == 0) {
            o->decode = 1;
        } else if (strcmp(a, "--skip-special") == 0) {
            o->skip_special = 1;
        } else if (strcmp(a, "--tokens") == 0) {
            o->tokens = 1;
        } else if (strcmp(a, "--jsonl") == 0) {
            o->jsonl = 1;
        } else if (strcmp(a, "--") == 0 && i + 1 < argc && !o->text && i + 2 == argc) {
            o->text = argv[++i];
        } else if (a[0] == '-' && a[1] != 0) {
            return cli_error("tokenize", "unknown or incomplete option '%s' (see --help)", a);
        } else if (!o->text) {
            o->text = a;
        } else {
            return cli_error("tokenize", "more than one TEXT argument (quote the text)");
        }
    }
    if (!o->tokenizer) return cli_error("tokenize", "--tokenizer FILE is required (see --help)");
    if (o->text && o->file) return cli_error("tokenize", "give TEXT or --file, not both");
    if (o->decode + o->jsonl > 1) return cli_error("tokenize", "--decode and --jsonl exclude each other");
    return 0;
}

/* The whole input: TEXT, --file or stdin. */
static int read_input(const options *o, char **data, size_t *n, const char **name)
{
    mlsae_error err;
    if (o->text) {
        *n = strlen(o->text);
        *data = malloc(*n + 1);
        if (!*data) return cli_error("tokenize", "out of memory");
        memcpy(*data, o->text, *n + 1);
        *name = "TEXT";
        return 0;
    }
    const char *path = (o->file && strcmp(o->file, "-") != 0) ? o->file : "/dev/stdin";
    *name = (o->file && strcmp(o->file, "-") != 0) ? o->file : "stdin";
    if (mlsae_read_file_or_stream(path, data, n, &err) != 0)
        return cli_error("tokenize", "%s", err.msg);
    return 0;
}

static int write_ids(const mlsae_tokenizer *tok, const mlsae_ids *ids, int as_tokens)
{
    for (size_t i = 0; i < ids->len; i++) {
        if (i) putchar(' ');
        if (as_tokens)
            fputs(mlsae_tokenizer_id_to_token(tok, ids->data[i]), stdout);
        else
            printf("%ld", (long)ids->data[i]);
    }
    putchar('\n');
    return 0;
}

static int run_encode(const mlsae_tokenizer *tok, const options *o)
{
    char *data;
    size_t n;
    const char *name;
    if (read_input(o, &data, &n, &name) != 0) return 1;
    mlsae_ids ids = {0};
    mlsae_error err;
    int rc = mlsae_tokenizer_encode(tok, data, n, &ids, &err);
    free(data);
    if (rc != 0) {
        mlsae_ids_free(&ids);
        return cli_error("tokenize", "%s", err.msg);
    }
    write_ids(tok, &ids, o->tokens);
    mlsae_ids_free(&ids);
    return 0;
}

static int run_decode(const mlsae_tokenizer *tok, const options *o)
{
    char *data;
    size_t n;
    const char *name;
    if (read_input(o, &data, &n, &name) != 0) return 1;
    mlsae_ids ids = {0};
    const char *sep = " \t\r\n,[]";
    int rc = 0;
    size_t pos = 0;
    for (char *save = NULL, *t = strtok_r(data, sep, &save); t; t = strtok_r(NULL, sep, &save), pos++) {
        char *end;
        errno = 0;
        long v = strtol(t, &end, 10);
        if (*end || errno || v < INT32_MIN || v > INT32_MAX) {
            rc = cli_error("tokenize", "%s: not a token id at position %zu: '%.40s'", name, pos, t);
            break;
        }
        if (mlsae_ids_push(&ids, (int32_t)v) != 0) {
            rc = cli_error("tokenize", "out of memory");
            break;
        }
    }
    free(data);
    if (rc == 0) {
        char *text;
        size_t len;
        mlsae_error err;
        if (mlsae_tokenizer_decode(tok, ids.data, ids.len, o->skip_special, &text, &len, &err) != 0) {
            rc = cli_error("tokenize", "%s: %s", name, err.msg);
        } else {
            fwrite(text, 1, len, stdout);
            free(text);
        }
    }
    mlsae_ids_free(&ids);
    return rc;
}

/* One chunk of JSON Lines: encode in parallel, print in order. */
static int flush_chunk(const mlsae_tokenizer *tok, const options *o, size_t count,
                       const char **texts, size_t *lens, mlsae_ids *outs)
{
    mlsae_error err;
    if (mlsae_tokenizer_encode_batch(tok, count, texts, lens, outs, o->threads, &err) != 0)
        return cli_error("tokenize", "%s", err.msg);
    for (size_t i = 0; i < count; i++) {
        json_t *arr = json_array();
        for (size_t k = 0; arr && k < outs[i].len; k++)
            if (json_array_append_new(arr, json_integer(outs[i].data[k])) != 0) break;
        json_t *obj = arr ? json_pack("{s:o}", "ids", arr) : NULL;
        if (!obj || json_dumpf(obj, stdout, JSON_COMPACT) != 0) {
            json_decref(obj);
            return cli_error("tokenize", "cannot write the output");
        }
        json_decref(obj);
        putchar('\n');
        outs[i].len = 0;
    }
    return 0;
}

static int run_jsonl(const mlsae_tokenizer *tok, const options *o)
{
    if (o->text) return cli_error("tokenize", "--jsonl reads --file or standard input, not TEXT");
    int from_file = o->file && strcmp(o->file, "-") != 0;
    const char *name = from_file ? o->file : "stdin";
    mlsae_line_reader *lines;
    mlsae_error err;
    if (mlsae_line_reader_open_stream(from_file ? o->file : "/dev/stdin", &lines, &err) != 0)
        return cli_error("tokenize", "%s", err.msg);
    json_t *docs[JSONL_CHUNK];
    const char *texts[JSONL_CHUNK];
    size_t lens[JSONL_CHUNK];
    mlsae_ids outs[JSONL_CHUNK];
    memset(outs, 0, sizeof outs);
    size_t count = 0;
    const char *line;
    size_t len;
    int rc = 0, r;
    while (rc == 0 && (r = mlsae_line_reader_next(lines, &line, &len, &err)) == 1) {
        unsigned long long line_no = (unsigned long long)mlsae_line_reader_line(lines);
        json_error_t je;
        json_t *doc = json_loadb(line, len, JSON_ALLOW_NUL, &je);
        if (!doc) {
            rc = cli_error("tokenize", "%s:%llu:%d: malformed JSON: %s", name, line_no, je.column, je.text);
            break;
        }
        json_t *text = json_object_get(doc, "text");
        if (!json_is_string(text)) {
            json_decref(doc);
            rc = cli_error("tokenize", "%s:%llu: field 'text': %s", name, line_no,
                           text ? "not a string" : "missing");
            break;
        }
        docs[count] = doc;
        texts[count] = json_string_value(text);
        lens[count] = json_string_length(text);
        if (++count == JSONL_CHUNK) {
            rc = flush_chunk(tok, o, count, texts, lens, outs);
            for (size_t i = 0; i < count; i++) json_decref(docs[i]);
            count = 0;
        }
    }
    if (rc == 0 && r < 0) rc = cli_error("tokenize", "%s", err.msg);
    if (rc == 0 && count) rc = flush_chunk(tok, o, count, texts, lens, outs);
    for (size_t i = 0; i < count; i++) json_decref(docs[i]);
    for (size_t i = 0; i < JSONL_CHUNK; i++) mlsae_ids_free(&outs[i]);
    mlsae_line_reader_close(lines);
    return rc;
}

int cmd_tokenize(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    options o;
    if (parse_args(argc, argv, &o) != 0) return 2;
    mlsae_tokenizer *tok;
    mlsae_error err;
    if (mlsae_tokenizer_load(o.tokenizer, &tok, &err) != 0) return cli_error("tokenize", "%s", err.msg);
    int rc = o.jsonl ? run_jsonl(tok, &o) : o.decode ? run_decode(tok, &o) : run_encode(tok, &o);
    mlsae_tokenizer_free(tok);
    if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout)))
        rc = cli_error("tokenize", "cannot write to standard output");
    return rc;
}
