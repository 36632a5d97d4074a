/*
 * test_proto_http_auth.c — the Proxy-Authorization header an explicit HTTP
 * proxy inbound reads (RFC 9110 section 11.7.4, Basic per RFC 7617): the
 * credentials decoded whatever the scheme's case, colons in the password,
 * empty parts, bytes that are not text; other schemes, bad base64 and
 * oversized parts refused; the header found in CONNECT and absolute-form
 * requests alike, twice is not valid, and it never reaches the origin.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "engine/proto/proto_http.h"
#include "tests/unit/named_cases.h"

static bool basic(const char *value, struct http_credentials *c)
{
    memset(c, 0, sizeof(*c));
    return http_parse_basic(value, strlen(value), c);
}

static void assert_credentials(const struct http_credentials *c, const char *user, const char *pass)
{
    assert_true(c->valid);
    assert_int_equal(c->user_len, strlen(user));
    assert_memory_equal(c->user, user, c->user_len);
    assert_int_equal(c->pass_len, strlen(pass));
    assert_memory_equal(c->pass, pass, c->pass_len);
}

/* A Proxy-Authorization value whose Basic credentials decode to `user` and `pass`. */
struct basic_case {
    const char *name;
    const char *value;
    const char *user, *pass;
};

static const struct basic_case basic_cases[] = {
    {"the example of RFC 7617 section 2", "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "Aladdin",
     "open sesame"},
    {"the scheme in any case", "basic  QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "Aladdin", "open sesame"},
    {"the first colon splits", "BASIC dTpwOnc6", "u", "p:w:"}, /* "u:p:w:" */
    {"an empty password", "Basic dTo=", "u", ""},              /* "u:" */
    {"an empty user", "Basic OnA=", "", "p"},                  /* ":p" */
};
#define N_BASIC_CASES (sizeof(basic_cases) / sizeof(basic_cases[0]))

static void basic_credentials_decoded(void **state)
{
    const struct basic_case *b = *state;
    struct http_credentials c;
    assert_true(basic(b->value, &c));
    assert_credentials(&c, b->user, b->pass);
}

static void credentials_are_bytes_not_strings(void **state)
{
    (void)state;
    struct http_credentials c;
    assert_true(basic("Basic YQBiOmMAZA==", &c)); /* "a\0b:c\0d" */
    assert_true(c.user_len == 3 && c.pass_len == 3 && c.user[1] == 0 && c.pass[1] == 0);
}

static void anything_else_is_not_valid(void **state)
{
    (void)state;
    struct http_credentials c;
    static const char *const bad[] = {
        "Bearer QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
        "Digest username=\"a\"",
        "Basic",
        "Basic ",
        "BasicQWxhZGRpbjpvcGVuIHNlc2FtZQ==",
        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ",   /* not a multiple of 4 */
        "Basic QWxh=GRpbjpvcGVuIHNlc2FtZQ==", /* '=' inside */
        "Basic QWxhZGRp*jpvcGVuIHNlc2FtZQ==", /* not base64 */
        "Basic QWxhZGRpbg==",                 /* "Aladdin": no colon */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (basic(bad[i], &c) || c.valid)
            fail_msg("accepted %s", bad[i]);
}

static void parts_longer_than_255_bytes_are_not_valid(void **state)
{
    (void)state;
    char plain[600], value[1000] = "Basic ";
    struct http_credentials c;
    /* 255 + ':' + 255: the largest that fits */
    memset(plain, 'u', 255);
    plain[255] = ':';
    memset(plain + 256, 'p', 255);
    EVP_EncodeBlock((unsigned char *)value + 6, (const unsigned char *)plain, 511);
    assert_true(basic(value, &c));
    assert_int_equal(c.user_len, 255);
    assert_int_equal(c.pass_len, 255);
    /* one byte more in either part */
    memset(plain, 'u', 256);
    plain[256] = ':';
    memset(plain + 257, 'p', 1);
    EVP_EncodeBlock((unsigned char *)value + 6, (const unsigned char *)plain, 258);
    assert_false(basic(value, &c));
    memset(plain, 'u', 1);
    plain[1] = ':';
    memset(plain + 2, 'p', 256);
    EVP_EncodeBlock((unsigned char *)value + 6, (const unsigned char *)plain, 258);
    assert_false(basic(value, &c));
    /* a token far too long */
    memset(value + 6, 'Q', 900);
    value[906] = '\0';
    assert_false(basic(value, &c));
}

static enum parse_result request(const char *head, struct http_request *req)
{
    size_t used;
    return http_parse_proxy_request((const uint8_t *)head, strlen(head), &used, req);
}

static void the_header_read_in_connect_and_absolute_form(void **state)
{
    (void)state;
    static struct http_request req;
    assert_int_equal(request("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n"
                             "proxy-authorization:   Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==  \r\n\r\n",
                             &req),
                     PARSE_DONE);
    assert_true(req.auth.present);
    assert_credentials(&req.auth, "Aladdin", "open sesame");

    assert_int_equal(request("GET http://example.com/x HTTP/1.1\r\nAccept: */*\r\n"
                             "Proxy-Authorization: Basic dTpw\r\nUser-Agent: t\r\n\r\n",
                             &req),
                     PARSE_DONE);
    assert_credentials(&req.auth, "u", "p");
    assert_null(strstr(req.rewritten, "Proxy-Authorization"));
    assert_null(strstr(req.rewritten, "dTpw"));
    assert_non_null(strstr(req.rewritten, "User-Agent: t\r\n"));

    /* none, twice, or not Basic */
    assert_int_equal(request("CONNECT example.com:443 HTTP/1.1\r\n\r\n", &req), PARSE_DONE);
    assert_false(req.auth.present);
    assert_false(req.auth.valid);
    assert_int_equal(request("CONNECT example.com:443 HTTP/1.1\r\n"
                             "Proxy-Authorization: Basic dTpw\r\n"
                             "Proxy-Authorization: Basic dTpx\r\n\r\n",
                             &req),
                     PARSE_DONE);
    assert_true(req.auth.present);
    assert_false(req.auth.valid);
    assert_int_equal(request("GET http://example.com/ HTTP/1.1\r\n"
                             "Proxy-Authorization: Negotiate abc\r\n\r\n",
                             &req),
                     PARSE_DONE);
    assert_true(req.auth.present);
    assert_false(req.auth.valid);
}

int main(void)
{
    struct CMUnitTest tests[N_BASIC_CASES + 4] = {
        cmocka_unit_test(credentials_are_bytes_not_strings),
        cmocka_unit_test(anything_else_is_not_valid),
        cmocka_unit_test(parts_longer_than_255_bytes_are_not_valid),
        cmocka_unit_test(the_header_read_in_connect_and_absolute_form),
    };
    named_cases(tests + 4, basic_cases, N_BASIC_CASES, sizeof(basic_cases[0]),
                basic_credentials_decoded);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
