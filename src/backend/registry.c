/* The backend registry (registry.h): the built-in CPU backend and plugins
 * found by scanning. The core library never links against a device API;
 * only plugins do. */
#include "config.h"
#include "backend/registry.h"
#include "backend/device_spec.h"
#include "core/paths.h"

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef MLSAE_PLUGIN_DIR
#define MLSAE_PLUGIN_DIR "/usr/local/lib/mlsae/plugins"
#endif
#ifndef MLSAE_KNOWN_PLUGINS
#define MLSAE_KNOWN_PLUGINS ""
#endif

#define MAX_PLUGINS 16
#define MAX_PROBLEMS 16
#define MAX_SCANNED 64

static struct {
    mlsae_registry_entry entry[MAX_PLUGINS];
    char path[MAX_PLUGINS][PATH_MAX];
    int n;
    char problem[MAX_PROBLEMS][PATH_MAX + 256];
    int n_problems;
    char scanned[MAX_SCANNED][PATH_MAX]; /* real paths already seen */
    int n_scanned;
    char search[4 * PATH_MAX];
} reg;
static pthread_once_t scan_once = PTHREAD_ONCE_INIT;

static void problem(const char *fmt, const char *path, const char *why)
{
    if (reg.n_problems >= MAX_PROBLEMS) return;
    snprintf(reg.problem[reg.n_problems++], sizeof reg.problem[0], fmt, path, why);
}

static int seen(const char *path)
{
    char real[PATH_MAX];
    if (!realpath(path, real)) return 1; /* vanished: skip it */
    for (int i = 0; i < reg.n_scanned; i++)
        if (strcmp(reg.scanned[i], real) == 0) return 1;
    if (reg.n_scanned < MAX_SCANNED) snprintf(reg.scanned[reg.n_scanned++], PATH_MAX, "%s", real);
    return 0;
}

static void load_plugin(const char *path)
{
    if (seen(path) || reg.n >= MAX_PLUGINS) return;
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        problem("%s: cannot load (%s)", path, why ? why : "unknown error");
        return;
    }
    mlsae_plugin_register_fn reg_fn =
        (mlsae_plugin_register_fn)(uintptr_t)dlsym(h, MLSAE_PLUGIN_ENTRY);
    if (!reg_fn) {
        problem("%s: not a plugin (%s)", path, "no symbol " MLSAE_PLUGIN_ENTRY);
        return; /* left loaded: a library may not survive being unloaded */
    }
    const mlsae_backend_plugin *p = reg_fn();
    if (!p || p->api_version != MLSAE_BACKEND_API_VERSION) {
        char why[128];
        snprintf(why, sizeof why, "built for backend interface %u, this program uses %u; "
                 "rebuild the plugin", p ? p->api_version : 0u, MLSAE_BACKEND_API_VERSION);
        problem("%s: refused (%s)", path, why);
        return;
    }
    mlsae_device_spec spec;
    mlsae_error err;
    if (!p->name || mlsae_device_parse(p->name, &spec, &err) != 0 ||
        spec.kind != MLSAE_DEVICE_PLUGIN || strchr(p->name, ':') || !p->init ||
        !p->device_count || !p->device_info) {
        problem("%s: refused (%s)", path, "its table lacks a valid name or function");
        return;
    }
    for (int i = 0; i < reg.n; i++)
        if (strcmp(reg.entry[i].name, p->name) == 0) {
            problem("%s: ignored (%s)", path, "a plugin of that name was found earlier");
            return;
        }
    snprintf(reg.path[reg.n], PATH_MAX, "%s", path);
    reg.entry[reg.n] = (mlsae_registry_entry){p->name, reg.path[reg.n], p};
    reg.n++;
}

static int plugin_file_name(const char *base)
{
    size_t n = strlen(base);
    return n > 9 && strncmp(base, "mlsae-", 6) == 0 && strcmp(base + n - 3, ".so") == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every mlsae-*.so of dir, in name order (a directory listing has none). */
static void scan_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    char *names[MAX_SCANNED];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < MAX_SCANNED)
        if (plugin_file_name(e->d_name)) names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmp_str);
    for (int i = 0; i < n; i++) {
        if (!names[i]) continue;
        char path[PATH_MAX];
        if (mlsae_path_join(path, sizeof path, dir, names[i]) == 0 && mlsae_is_file(path))
            load_plugin(path);
        free(names[i]);
    }
}

static void add_search(const char *what)
{
    size_t used = strlen(reg.search);
    snprintf(reg.search + used, sizeof reg.search - used, "%s%s", used ? ":" : "", what);
}

static void scan_entry(const char *p)
{
    if (!*p) return;
    add_search(p);
    if (mlsae_is_dir(p)) scan_dir(p);
    else if (mlsae_is_file(p)) load_plugin(p);
}

static void scan(void)
{
    const char *env = getenv("MLSAE_PLUGIN_PATH");
    if (env && *env) {
        char *copy = strdup(env);
        for (char *save = NULL, *tok = copy ? strtok_r(copy, ":", &save) : NULL; tok;
             tok = strtok_r(NULL, ":", &save))
            scan_entry(tok);
        free(copy);
    }
    scan_entry(MLSAE_PLUGIN_DIR);
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash && slash != exe) {
            *slash = '\0';
            scan_entry(exe);
        }
    }
}

static void ensure_scanned(void)
{
    pthread_once(&scan_once, scan);
}

int mlsae_registry_count(void)
{
    ensure_scanned();
    return reg.n;
}

const mlsae_registry_entry *mlsae_registry_get(int i)
{
    ensure_scanned();
    return i >= 0 && i < reg.n ? &reg.entry[i] : NULL;
}

const mlsae_registry_entry *mlsae_registry_find(const char *name)
{
    ensure_scanned();
    for (int i = 0; i < reg.n; i++)
        if (strcmp(reg.entry[i].name, name) == 0) return &reg.entry[i];
    return NULL;
}

void mlsae_registry_problems(void (*emit)(void *ctx, const char *line), void *ctx)
{
    ensure_scanned();
    for (int i = 0; i < reg.n_problems; i++) emit(ctx, reg.problem[i]);
}

void mlsae_registry_search_path(char *out, size_t n)
{
    ensure_scanned();
    snprintf(out, n, "%s", reg.search);
}

const char *mlsae_registry_known_plugins(void)
{
    return MLSAE_KNOWN_PLUGINS;
}

static int auto_slot;

void mlsae_registry_set_auto_slot(int slot) { auto_slot = slot > 0 ? slot : 0; }

void mlsae_registry_auto(char *out, size_t n)
{
    /* pass 0: the best score and how many devices have it; pass 1: the
     * slot-th of them */
    int best = MLSAE_SCORE_CPU, n_best = 0, want = -1, seen = 0;
    snprintf(out, n, "cpu");
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < mlsae_registry_count(); i++) {
            const mlsae_backend_plugin *p = reg.entry[i].plugin;
            mlsae_error why;
            int count = p->device_count(&why);
            for (int d = 0; d < count; d++) {
                char line[512];
                int score = p->device_info(d, line, sizeof line);
                if (pass == 0 && score > best) {
                    best = score;
                    n_best = 1;
                } else if (pass == 0 && score == best && n_best > 0) {
                    n_best++;
                } else if (pass == 1 && score == best && seen++ == want) {
                    snprintf(out, n, "%s:%d", p->name, d);
                }
            }
        }
        if (n_best == 0) return; /* nothing beats the CPU */
        want = auto_slot % n_best;
    }
}

static int open_plugin(const mlsae_device_spec *spec, const mlsae_backend_params *params,
                       mlsae_backend **out, mlsae_error *err)
{
    const mlsae_registry_entry *e = mlsae_registry_find(spec->name);
    if (!e) {
        char search[sizeof reg.search];
        mlsae_registry_search_path(search, sizeof search);
        return mlsae_fail(err, "%s backend: no plugin mlsae-%s.so found (searched %s)%s",
                          spec->name, spec->name, search,
                          strcmp(spec->name, "opencl") == 0
                              ? "; build with OpenCL headers (apt-get install "
                                "ocl-icd-opencl-dev opencl-headers) or set MLSAE_PLUGIN_PATH"
                              : "; set MLSAE_PLUGIN_PATH to the directory holding it");
    }
    mlsae_backend_params p = {0};
    if (params) p = *params;
    p.device_index = spec->index;
    if (e->plugin->init(&p, out, err) != 0) {
        *out = NULL;
        return mlsae_error_prefix(err, "%s backend", spec->name);
    }
    if ((*out)->ops->api_version != MLSAE_BACKEND_API_VERSION) {
        uint32_t v = (*out)->ops->api_version;
        (*out)->ops->destroy(*out);
        *out = NULL;
        return mlsae_fail(err, "%s backend: plugin %s implements interface version %u, this "
                          "program needs %u (rebuild the plugin)", spec->name, e->path, v,
                          MLSAE_BACKEND_API_VERSION);
    }
    return 0;
}

int mlsae_backend_open(const char *device, const mlsae_backend_params *params,
                       mlsae_backend **out, mlsae_error *err)
{
    *out = NULL;
    mlsae_device_spec spec;
    if (mlsae_device_parse(device ? device : "cpu", &spec, err) != 0)
        return mlsae_error_prefix(err, "--device");
    if (spec.kind == MLSAE_DEVICE_AUTO) {
        char pick[64];
        mlsae_registry_auto(pick, sizeof pick);
        if (strcmp(pick, "cpu") != 0) {
            mlsae_device_spec chosen;
            mlsae_error why;
            if (mlsae_device_parse(pick, &chosen, &why) == 0 &&
                open_plugin(&chosen, params, out, &why) == 0)
                return 0;
            if (params && params->verbose)
                fprintf(stderr, "mlsae: %s does not open (%s); using the CPU\n", pick, why.msg);
        }
        spec.kind = MLSAE_DEVICE_CPU;
    }
    if (spec.kind == MLSAE_DEVICE_CPU) return mlsae_backend_cpu_new(params, out, err);
    return open_plugin(&spec, params, out, err);
}

void mlsae_backend_close(mlsae_backend *be)
{
    if (be) be->ops->destroy(be);
}
