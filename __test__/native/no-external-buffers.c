/*
 * A stand-in for Electron's V8 memory cage in a plain Node process: an LD_PRELOAD shim that
 * makes napi_create_external_buffer and napi_create_external_arraybuffer fail with
 * napi_no_external_buffers_allowed, as they do in Electron >= 21, and print
 * "SHMRING-TEST: external buffer created" to stderr whenever anything calls them.
 *
 * How it reaches the addon: the `node` executable defines every napi_* function itself, and
 * the executable comes first in symbol lookup, so preloading definitions of them changes
 * nothing. But napi-rs (napi-sys, Linux) does not link napi_* symbols: it looks each one up
 * with dlsym() when the addon registers. dlsym lives in libc, so a preloaded dlsym comes
 * first; ours hands out the failing functions below for the two names and forwards every
 * other lookup to the real dlsym. The spec proves this path with LD_DEBUG=bindings (the
 * addon's dlsym binds to this file) and with the line printed when a name is handed out.
 *
 * Control: loaded as an addon itself (process.dlopen), this file's napi_register_module_v1
 * resolves napi_create_external_buffer the way napi-sys does (dlsym on dlopen(NULL)) and
 * calls it, so the marker must appear: the shim's path works end to end.
 *
 * Node-API declarations are written here with void* types (from js_native_api.h):
 *   napi_status napi_create_external_buffer(napi_env env, size_t length, void* data,
 *       napi_finalize finalize_cb, void* finalize_hint, napi_value* result);
 *   napi_status napi_create_external_arraybuffer(napi_env env, void* external_data,
 *       size_t byte_length, napi_finalize finalize_cb, void* finalize_hint, napi_value* result);
 *
 * Build: gcc -shared -fPIC -o no-external-buffers.so no-external-buffers.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

typedef int napi_status; /* an enum in js_native_api_types.h */
enum { napi_no_external_buffers_allowed = 22 };

static void say(const char *line) {
    ssize_t ignored = write(2, line, strlen(line));
    (void)ignored;
}

/*
 * The failing functions are static, so the pointers dlsym hands out are these very
 * functions: a reference to an exported name from inside this file would be resolved
 * through the global scope, where the `node` executable's definition comes first.
 */
static napi_status refuse_external_buffer(void *env, size_t length, void *data, void *finalize_cb,
                                          void *finalize_hint, void **result) {
    (void)env, (void)length, (void)data, (void)finalize_cb, (void)finalize_hint, (void)result;
    say("SHMRING-TEST: external buffer created\n");
    return napi_no_external_buffers_allowed;
}

static napi_status refuse_external_arraybuffer(void *env, void *external_data, size_t byte_length,
                                               void *finalize_cb, void *finalize_hint, void **result) {
    (void)env, (void)external_data, (void)byte_length, (void)finalize_cb, (void)finalize_hint, (void)result;
    say("SHMRING-TEST: external buffer created\n");
    return napi_no_external_buffers_allowed;
}

/* The Node-API names, for anything that links them from this file directly. */
napi_status napi_create_external_buffer(void *env, size_t length, void *data, void *finalize_cb,
                                        void *finalize_hint, void **result) {
    return refuse_external_buffer(env, length, data, finalize_cb, finalize_hint, result);
}

napi_status napi_create_external_arraybuffer(void *env, void *external_data, size_t byte_length,
                                             void *finalize_cb, void *finalize_hint, void **result) {
    return refuse_external_arraybuffer(env, external_data, byte_length, finalize_cb, finalize_hint, result);
}

typedef void *(*dlsym_fn)(void *, const char *);

static dlsym_fn real_dlsym(void) {
    static dlsym_fn real;
    if (!real) {
        /* dlvsym is not interposed, and RTLD_NEXT from here finds libc's dlsym. */
        real = (dlsym_fn)dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34");
        if (!real) real = (dlsym_fn)dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.2.5");
    }
    return real;
}

void *dlsym(void *handle, const char *name) {
    if (strcmp(name, "napi_create_external_buffer") == 0) {
        say("SHMRING-TEST: napi_create_external_buffer resolved to the shim\n");
        return (void *)refuse_external_buffer;
    }
    if (strcmp(name, "napi_create_external_arraybuffer") == 0) {
        say("SHMRING-TEST: napi_create_external_arraybuffer resolved to the shim\n");
        return (void *)refuse_external_arraybuffer;
    }
    return real_dlsym()(handle, name);
}

/* The control addon: resolves and calls napi_create_external_buffer like napi-sys does. */
void *napi_register_module_v1(void *env, void *exports) {
    typedef napi_status (*create_fn)(void *, size_t, void *, void *, void *, void **);
    void *self = dlopen(NULL, RTLD_LAZY);
    create_fn create = self ? (create_fn)dlsym(self, "napi_create_external_buffer") : NULL;
    static char data[4];
    void *result = NULL;
    if (create && create(env, sizeof data, data, NULL, NULL, &result) == napi_no_external_buffers_allowed) {
        say("SHMRING-TEST: control call was refused with napi_no_external_buffers_allowed\n");
    }
    return exports;
}
