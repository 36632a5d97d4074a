/*
 * test_control_ws_handshake.c — the WebSocket opening handshake on the
 * server's side (RFC 6455, 4.2): the accept key of the RFC's own example and
 * of a key a browser sent, and which requests are upgraded, which are plain
 * HTTP and which are refused (400, or 426 for another version), as the
 * Clash dashboards' browsers and Python's websockets send them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "engine/control/control_ws_handshake.h"
#include "tests/unit/named_cases.h"

static void accept_key_rfc_example(void **state)
{
    (void)state;
    char out[CONTROL_WS_ACCEPT_LEN + 1];
    /* RFC 6455, 1.3. */
    assert_int_equal(control_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    /* A second key, checked against Python's hashlib and base64. */
    assert_int_equal(control_ws_accept_key("x3JJHMbDL1EzLkh9GBhXDw==", out), 0);
    assert_string_equal(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
    assert_int_equal(strlen(out), CONTROL_WS_ACCEPT_LEN);
}

static void accept_key_too_long(void **state)
{
    (void)state;
    char key[200], out[CONTROL_WS_ACCEPT_LEN + 1];
    memset(key, 'A', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    assert_int_equal(control_ws_accept_key(key, out), -1);
}

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="

struct decide_case {
    const char *name;
    const char *method, *upgrade, *connection, *version, *key;
    enum control_ws_verdict want;
};

static const struct decide_case decide_cases[] = {
    {"a browser's handshake", "GET", "websocket", "Upgrade", "13", KEY, CONTROL_WS_UPGRADE},
    {"Firefox: Connection keep-alive, Upgrade", "GET", "websocket", "keep-alive, Upgrade", "13",
     KEY, CONTROL_WS_UPGRADE},
    {"any case, spaces and tabs around tokens", "GET", "WebSocket", " keep-alive ,\tUPGRADE ", "13",
     KEY, CONTROL_WS_UPGRADE},
    {"no Upgrade header: plain HTTP", "GET", NULL, "keep-alive", NULL, NULL, CONTROL_WS_PLAIN},
    {"Upgrade to something else: plain HTTP", "GET", "h2c", "Upgrade", "13", KEY, CONTROL_WS_PLAIN},
    {"a token that only begins with websocket: plain HTTP", "GET", "websockets", "Upgrade", "13",
     KEY, CONTROL_WS_PLAIN},
    {"not GET", "POST", "websocket", "Upgrade", "13", KEY, CONTROL_WS_BAD},
    {"no Connection header", "GET", "websocket", NULL, "13", KEY, CONTROL_WS_BAD},
    {"Connection without upgrade", "GET", "websocket", "keep-alive", "13", KEY, CONTROL_WS_BAD},
    {"Connection: upgraded is not upgrade", "GET", "websocket", "upgraded", "13", KEY,
     CONTROL_WS_BAD},
    {"no key", "GET", "websocket", "Upgrade", "13", NULL, CONTROL_WS_BAD},
    {"a key of 15 bytes", "GET", "websocket", "Upgrade", "13",
     "dGhlIHNhbXBsZSBub25jZQ=", CONTROL_WS_BAD},
    {"a key of 17 bytes", "GET", "websocket", "Upgrade", "13", "dGhlIHNhbXBsZSBub25jZQ==AAAA",
     CONTROL_WS_BAD},
    {"a key outside the base64 alphabet", "GET", "websocket", "Upgrade", "13",
     "dGhlIHNhbXBsZ*Bub25jZQ==", CONTROL_WS_BAD},
    {"version 8", "GET", "websocket", "Upgrade", "8", KEY, CONTROL_WS_BAD_VERSION},
    {"no version", "GET", "websocket", "Upgrade", NULL, KEY, CONTROL_WS_BAD_VERSION},
    {"version 13 followed by more", "GET", "websocket", "Upgrade", "13, 8", KEY,
     CONTROL_WS_BAD_VERSION},
};

static void decide_case(void **state)
{
    const struct decide_case *c = *state;
    assert_int_equal(control_ws_decide(c->method, c->upgrade, c->connection, c->version, c->key),
                     c->want);
}

int main(void)
{
    enum { NCASES = sizeof(decide_cases) / sizeof(decide_cases[0]) };
    struct CMUnitTest tests[2 + NCASES] = {
        cmocka_unit_test(accept_key_rfc_example),
        cmocka_unit_test(accept_key_too_long),
    };
    named_cases(tests + 2, decide_cases, NCASES, sizeof(decide_cases[0]), decide_case);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
