/*
 * test_control_ui.c — the built-in dashboard's embedded files: /ui/ is
 * index.html, each file of engine/control/ui/ is found by its name with its
 * Content-Type and its bytes as on disk, and nothing outside /ui/ or not
 * embedded is found.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "engine/control/control_ui.h"
#include "tests/unit/unit_test.h"

static void index_and_types(void **state)
{
    (void)state;
    const char *type = NULL;
    const struct control_ui_file *f = control_ui_find("/ui/", &type);
    assert_non_null(f);
    assert_string_equal(f->name, "index.html");
    assert_string_equal(type, "text/html; charset=utf-8");
    assert_non_null(memmem(f->data, f->len, "app.js", 6));
    f = control_ui_find("/ui/app.js", &type);
    assert_non_null(f);
    assert_string_equal(type, "text/javascript; charset=utf-8");
    f = control_ui_find("/ui/style.css", &type);
    assert_non_null(f);
    assert_string_equal(type, "text/css; charset=utf-8");
}

static void embedded_as_on_disk(void **state)
{
    (void)state;
    for (const struct control_ui_file *f = control_ui_files; f->name; f++) {
        char path[256], disk[65536];
        snprintf(path, sizeof(path), "engine/control/ui/%s", f->name);
        FILE *in = fopen(path, "rb");
        assert_non_null(in);
        size_t n = fread(disk, 1, sizeof(disk), in);
        fclose(in);
        assert_int_equal(n, f->len);
        assert_memory_equal(disk, f->data, n);
    }
}

static void nothing_else(void **state)
{
    (void)state;
    const char *type;
    assert_null(control_ui_find("/ui", &type));
    assert_null(control_ui_find("/ui/nothing.js", &type));
    assert_null(control_ui_find("/ui/../ui/app.js", &type));
    assert_null(control_ui_find("/app.js", &type));
    assert_null(control_ui_find("/uiapp.js", &type));
    assert_null(control_ui_find("", &type));
}

UNIT_TEST_MAIN(NULL, NULL, cmocka_unit_test(index_and_types), cmocka_unit_test(embedded_as_on_disk),
               cmocka_unit_test(nothing_else))
