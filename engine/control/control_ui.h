/*
 * control_ui.h — the built-in dashboard's files (engine/control/ui/),
 * embedded in the binary at build time: the Makefile turns each file into
 * a C array with `xxd -i` and lists them in control_ui_files.
 */
#ifndef SWITCHYARD_CONTROL_UI_H
#define SWITCHYARD_CONTROL_UI_H

#include <stddef.h>

struct control_ui_file {
    const char *name; /* as under engine/control/ui/, e.g. "app.js" */
    const unsigned char *data;
    size_t len;
};

/* Every embedded file, ending with an entry whose name is NULL (generated). */
extern const struct control_ui_file control_ui_files[];

/*
 * The file a request path under /ui/ names ("/ui/" is index.html) and its
 * Content-Type in *type; NULL for any other path (no such file, or not
 * under /ui/).
 */
const struct control_ui_file *control_ui_find(const char *url, const char **type);

#endif
