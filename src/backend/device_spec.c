#include "config.h"
#include "backend/device_spec.h"

#include <stdio.h>
#include <string.h>

static int bad(const char *s, mlsae_error *err)
{
    return mlsae_fail(err, "unknown device '%s' (cpu, auto, NAME or NAME:N for a backend "
                      "plugin, e.g. opencl or opencl:1)", s);
}

int mlsae_device_parse(const char *s, mlsae_device_spec *out, mlsae_error *err)
{
    memset(out, 0, sizeof *out);
    if (!s) return bad("", err);
    size_t n = strcspn(s, ":");
    if (n == 0 || n >= MLSAE_DEVICE_NAME_MAX) return bad(s, err);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (i > 0 && ((c >= '0' && c <= '9') || c == '_'));
        if (!ok) return bad(s, err);
    }
    memcpy(out->name, s, n);
    if (s[n] == ':') {
        const char *p = s + n + 1;
        int v = 0, digits = 0;
        for (; *p >= '0' && *p <= '9' && digits < 5; p++, digits++) v = v * 10 + (*p - '0');
        if (digits == 0 || digits > 4 || *p) return bad(s, err);
        out->index = v;
    }
    if (strcmp(out->name, "cpu") == 0 || strcmp(out->name, "auto") == 0) {
        if (s[n] == ':') return bad(s, err);
        out->kind = out->name[0] == 'c' ? MLSAE_DEVICE_CPU : MLSAE_DEVICE_AUTO;
        return 0;
    }
    out->kind = MLSAE_DEVICE_PLUGIN;
    return 0;
}
