/*
 * cli_curl.c — libcurl opened on demand. See cli_curl.h.
 */
#include "engine/cli/cli_curl.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>

#include "rules/util.h"

/* Debian's libcurl4 (and OpenWrt's libcurl) install it under this name. */
#define CLI_CURL_SONAME "libcurl.so.4"

/* Looks up `name` in `lib` into `*fn`; false when it is missing. */
static bool bind_fn(void *lib, const char *name, void *fn)
{
    void *sym = dlsym(lib, name);
    if (!sym)
        return false;
    *(void **)fn = sym; /* POSIX: function pointers and void * have one size */
    return true;
}

const struct cli_curl *cli_curl_open(char *error, size_t size)
{
    static struct cli_curl curl;
    static bool ready;
    if (ready)
        return &curl;
    void *lib = dlopen(CLI_CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(error, size, "cannot open %s (install libcurl4): %s", CLI_CURL_SONAME, dlerror());
        return NULL;
    }
    const struct {
        const char *name;
        void *fn;
    } calls[] = {
        {"curl_easy_init", &curl.easy_init},       {"curl_easy_setopt", &curl.easy_setopt},
        {"curl_easy_perform", &curl.easy_perform}, {"curl_easy_getinfo", &curl.easy_getinfo},
        {"curl_easy_cleanup", &curl.easy_cleanup}, {"curl_easy_strerror", &curl.easy_strerror},
        {"curl_slist_append", &curl.slist_append}, {"curl_slist_free_all", &curl.slist_free_all},
    };
    for (size_t i = 0; i < ARRAY_LEN(calls); i++)
        if (!bind_fn(lib, calls[i].name, calls[i].fn)) {
            snprintf(error, size, "%s has no %s", CLI_CURL_SONAME, calls[i].name);
            dlclose(lib);
            return NULL;
        }
    ready = true; /* kept open: the process is a short command */
    return &curl;
}
