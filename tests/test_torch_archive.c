/* torch.save archives (tests/gen/gen_torch_archive.py): every dtype and
 * shared/offset storages read byte for byte as torch wrote them; a GPT-NeoX
 * model from pytorch_model.bin (single and sharded) gives the same hidden
 * states, bit for bit, as its safetensors copy; every hostile or broken
 * archive is refused with one line naming the file; the unpickler survives
 * every truncation and single-byte change of a real pickle. */
#include "config.h"
#include "testutil.h"
#include "core/safetensors.h"
#include "core/torch_archive.h"
#include "core/torch_pickle.h"
#include "model/neox.h"
#include "sae/checkpoint.h"
#include "sae/mlsae.h"

#include <string.h>

static void test_dtypes(void)
{
    mlsae_error err = {{0}};
    mlsae_safetensors *pt = NULL, *ref = NULL;
    CHECKF(mlsae_st_open(tu_fixture("torch/dtypes.pt"), &pt, &err) == 0, "%s", err.msg);
    CHECKF(mlsae_st_open(tu_fixture("torch/dtypes.expected.safetensors"), &ref, &err) == 0, "%s",
           err.msg);
    if (!pt || !ref) exit(tu_finish("test_torch_archive"));
    CHECK(mlsae_st_count(pt) == mlsae_st_count(ref));
    for (size_t i = 0; i < mlsae_st_count(ref); i++) {
        const mlsae_st_tensor *e = mlsae_st_at(ref, i), *t = mlsae_st_find(pt, e->name);
        CHECKF(t != NULL, "tensor %s missing", e->name);
        if (!t) continue;
        int same = t->dtype == e->dtype && t->ndim == e->ndim && t->nbytes == e->nbytes &&
                   memcmp(t->shape, e->shape, (size_t)e->ndim * sizeof *e->shape) == 0 &&
                   memcmp(t->data, e->data, e->nbytes) == 0;
        CHECKF(same, "tensor %s differs from torch's values", e->name);
        printf("  %s %s ok\n", e->name, mlsae_dtype_name(t->dtype));
    }
    /* Views share their storage: row 2 and rows 1.. of base point into it. */
    const mlsae_st_tensor *b = mlsae_st_find(pt, "shared.base"), *r2 = mlsae_st_find(pt, "shared.row2"),
                          *tail = mlsae_st_find(pt, "shared.tail");
    CHECK(b && r2 && tail);
    if (b && r2 && tail) {
        CHECK((const char *)r2->data == (const char *)b->data + 6 * 4);
        CHECK((const char *)tail->data == (const char *)b->data + 3 * 4);
    }
    mlsae_st_close(pt);
    mlsae_st_close(ref);

    /* The hand-assembled pickle (torch.load accepts it too). */
    CHECKF(mlsae_st_open(tu_fixture("torch/assembled.pt"), &pt, &err) == 0, "%s", err.msg);
    if (pt) {
        float w[4], v[3];
        CHECK(mlsae_st_read_f32(pt, "w", 2, (int64_t[]){2, 2}, w, &err) == 0);
        CHECK(mlsae_st_read_f32(pt, "v", 1, (int64_t[]){3}, v, &err) == 0);
        CHECK(w[0] == 1 && w[1] == 2 && w[2] == 3 && w[3] == 4);
        CHECK(v[0] == 2 && v[1] == 3 && v[2] == 4);
        mlsae_st_close(pt);
    }
}

static void expect_refused(const char *path, const char *needle)
{
    mlsae_safetensors *st = NULL;
    mlsae_error err = {{0}};
    int rc = mlsae_st_open(path, &st, &err);
    CHECKF(rc == -1 && st == NULL, "%s opened but should not", path);
    CHECKF(strstr(err.msg, needle) != NULL, "%s: message '%s' lacks '%s'", path, err.msg, needle);
    CHECKF(strstr(err.msg, path) != NULL, "message '%s' does not name the file", err.msg);
    CHECKF(strchr(err.msg, '\n') == NULL, "message is not one line");
    const char *base = strrchr(err.msg, '/');
    printf("  refused: %s\n", base ? base + 1 : err.msg);
}

static void test_refused(void)
{
    static const struct { const char *file, *needle; } cases[] = {
        {"noncontig.pt", "non-contiguous tensor view refused"},
        {"legacy.pt", "legacy (torch < 1.6, non-zip) torch.save format refused"},
        {"evil_os_system.pt", "GLOBAL os.system refused"},
        {"evil_reduce_storage.pt", "REDUCE of a storage type refused"},
        {"evil_reduce_args.pt", "REDUCE OrderedDict with arguments refused"},
        {"evil_tensor_past_storage.pt", "runs past its storage '0' of 4 elements"},
        {"evil_storage_short.pt", "storage '0' holds 16 bytes but the pickle says 100 elements"},
        {"evil_shape_overflow.pt", "tensor size overflows"},
        {"evil_inst.pt", "opcode 0x69 refused"},
    };
    char path[4096];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(path, sizeof path, "%s", tu_fixture("torch/"));
        strncat(path, cases[i].file, sizeof path - strlen(path) - 1);
        expect_refused(path, cases[i].needle);
    }

    /* Truncated copies of a real archive. */
    FILE *fp = fopen(tu_fixture("torch/dtypes.pt"), "rb");
    CHECK(fp != NULL);
    if (!fp) return;
    unsigned char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    const size_t cuts[] = {4, 100, n / 2, n - 23, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        snprintf(path, sizeof path, "%s/truncated_%zu.pt", tu_tmpdir(), cuts[i]);
        fp = fopen(path, "wb");
        fwrite(buf, 1, cuts[i], fp);
        fclose(fp);
        expect_refused(path, cuts[i] == 4 ? "zip" : "not a readable zip archive");
    }
    /* Not a weights file at all. */
    snprintf(path, sizeof path, "%s/junk.bin", tu_tmpdir());
    fp = fopen(path, "wb");
    fputs("PK\3\4 and then nothing a zip would hold", fp);
    fclose(fp);
    expect_refused(path, "not a readable zip archive");
}

/* The pickle of assembled.pt, rebuilt here (tests/gen: state_dict_pickle). */
static size_t honest_pickle(unsigned char *p)
{
    size_t n = 0;
#define B(s) (memcpy(p + n, s, sizeof s - 1), n += sizeof s - 1)
    B("\x80\x02" "ccollections\nOrderedDict\n)R(");
    for (int t = 0; t < 2; t++) {
        if (t == 0) B("X\1\0\0\0w");
        else B("X\1\0\0\0v");
        B("ctorch._utils\n_rebuild_tensor_v2\n((X\7\0\0\0storagectorch\nFloatStorage\n"
          "X\1\0\0\0" "0X\3\0\0\0cpuK\4tQ");
        if (t == 0) B("K\0(K\2K\2t(K\2K\1t");
        else B("K\1(K\3t(K\1t");
        B("\x89" "ccollections\nOrderedDict\n)RtR");
    }
    B("u.");
#undef B
    return n;
}

/* Every prefix and every single-byte change is accepted or refused with a
 * message, never a crash (ASan/UBSan builds check the memory side). */
static void test_fuzz(void)
{
    unsigned char good[512], buf[512];
    size_t n = honest_pickle(good);
    mlsae_torch_record *r = NULL;
    size_t nr = 0;
    mlsae_error err = {{0}};
    CHECKF(mlsae_torch_unpickle(good, n, "honest", &r, &nr, &err) == 0, "%s", err.msg);
    CHECK(nr == 2 && r && strcmp(r[1].name, "v") == 0 && r[1].storage_offset == 1 &&
          r[1].numel == 3 && r[0].ndim == 2);
    mlsae_torch_records_free(r, nr);
    int refused = 0, accepted = 0, silent = 0;
    for (size_t len = 0; len < n; len++) {
        err.msg[0] = '\0';
        if (mlsae_torch_unpickle(good, len, "cut", &r, &nr, &err) == 0) {
            accepted++;
            mlsae_torch_records_free(r, nr);
        } else {
            refused++;
            silent += err.msg[0] == '\0';
        }
    }
    CHECKF(accepted == 0, "%d truncated pickles accepted", accepted);
    static const unsigned char vals[] = {0x00, 0x01, 0x7f, 0x80, 0xff, '(', 't', 'R', 'q', 'h'};
    int mut_ok = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t v = 0; v < sizeof vals; v++) {
            memcpy(buf, good, n);
            if (buf[i] == vals[v]) continue;
            buf[i] = vals[v];
            err.msg[0] = '\0';
            if (mlsae_torch_unpickle(buf, n, "mut", &r, &nr, &err) == 0) {
                mut_ok++;
                /* Whatever was accepted still satisfies the view bounds. */
                for (size_t k = 0; k < nr; k++)
                    CHECK(r[k].numel == 0 || r[k].storage_offset + r[k].numel <= r[k].storage_numel);
                mlsae_torch_records_free(r, nr);
            } else {
                refused++;
                silent += err.msg[0] == '\0';
            }
        }
    CHECKF(silent == 0, "%d refusals without a message", silent);
    printf("  unpickler fuzz: %zu-byte pickle, %d refusals, %d mutants accepted\n", n, refused, mut_ok);
}

static void test_model(mlsae_backend *be)
{
    mlsae_error err = {{0}};
    const char *dirs[3] = {"model/seq_r100_f16", "torch/neox_f16_bin", "torch/neox_f16_bin_sharded"};
    float *hid[3] = {0};
    enum { B = 2, S = 9 };
    int32_t tokens[B * S];
    for (int i = 0; i < B * S; i++) tokens[i] = (i * 7 + 3) % 61;
    size_t n_out = 0;
    for (int k = 0; k < 3; k++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", tu_fixture(dirs[k]));
        mlsae_neox *m = NULL;
        CHECKF(mlsae_neox_load(dir, be, 0, &m, &err) == 0, "%s", err.msg);
        if (!m) continue;
        const mlsae_neox_config *c = mlsae_neox_get_config(m);
        n_out = (size_t)c->n_layers * B * S * (size_t)c->hidden_size;
        hid[k] = malloc(n_out * sizeof(float));
        CHECKF(mlsae_neox_hidden_states_host(m, tokens, B, S, NULL, 0, hid[k], &err) == 0, "%s",
               err.msg);
        mlsae_neox_free(m);
    }
    for (int k = 1; k < 3; k++)
        if (hid[0] && hid[k]) {
            CHECKF(memcmp(hid[0], hid[k], n_out * sizeof(float)) == 0,
                   "%s: hidden states differ from the safetensors model", dirs[k]);
            printf("  %s: hidden states identical to model.safetensors (%zu floats)\n", dirs[k], n_out);
        }
    for (int k = 0; k < 3; k++) free(hid[k]);
}

/* An SAE checkpoint as pytorch_model.bin loads the same parameters. */
static void test_sae(mlsae_backend *be)
{
    mlsae_error err = {{0}};
    mlsae_sae *a = NULL, *b = NULL;
    CHECKF(mlsae_ckpt_load(tu_fixture("sae/ckpt_ref"), be, &a, &err) == 0, "%s", err.msg);
    CHECKF(mlsae_ckpt_load(tu_fixture("torch/sae_ckpt_ref_bin"), be, &b, &err) == 0, "%s", err.msg);
    if (a && b) {
        const mlsae_sae_config *c = mlsae_sae_get_config(a);
        size_t nd = (size_t)c->n_latents * c->n_inputs;
        float *p = calloc(2 * (2 * nd + c->n_inputs), sizeof(float));
        int64_t *ln = calloc(2 * (size_t)c->n_latents, sizeof(int64_t));
        float *q = p + 2 * nd + c->n_inputs;
        CHECK(mlsae_sae_get_params(a, p, p + nd, p + 2 * nd, ln, &err) == 0);
        CHECK(mlsae_sae_get_params(b, q, q + nd, q + 2 * nd, ln + c->n_latents, &err) == 0);
        CHECK(memcmp(mlsae_sae_get_config(b), c, sizeof *c) == 0);
        CHECKF(memcmp(p, q, (2 * nd + c->n_inputs) * sizeof(float)) == 0,
               "SAE parameters from pytorch_model.bin differ");
        printf("  SAE checkpoint from pytorch_model.bin: %zu parameters identical\n",
               2 * nd + c->n_inputs);
        free(p);
        free(ln);
    }
    mlsae_sae_free(a);
    mlsae_sae_free(b);
}

int main(void)
{
    test_dtypes();
    test_refused();
    test_fuzz();
    mlsae_error err = {{0}};
    mlsae_backend *be = NULL;
    mlsae_backend_params params = {.n_threads = 2};
    if (mlsae_backend_cpu_new(&params, &be, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    test_model(be);
    test_sae(be);
    mlsae_backend_close(be);
    return tu_finish("test_torch_archive");
}
