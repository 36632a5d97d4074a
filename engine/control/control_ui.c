/*
 * control_ui.c — finds the built-in dashboard's embedded files by request
 * path. See control_ui.h.
 */
#include "engine/control/control_ui.h"

#include <string.h>

#include "rules/util.h"

static const struct {
    const char *suffix, *type;
} content_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
};

const struct control_ui_file *control_ui_find(const char *url, const char **type)
{
    if (strncmp(url, "/ui/", 4) != 0)
        return NULL;
    const char *name = url[4] ? url + 4 : "index.html";
    for (const struct control_ui_file *f = control_ui_files; f->name; f++) {
        if (strcmp(f->name, name) != 0)
            continue;
        size_t n = strlen(name);
        *type = "application/octet-stream";
        for (size_t i = 0; i < ARRAY_LEN(content_types); i++) {
            size_t s = strlen(content_types[i].suffix);
            if (n > s && strcmp(name + n - s, content_types[i].suffix) == 0)
                *type = content_types[i].type;
        }
        return f;
    }
    return NULL;
}
