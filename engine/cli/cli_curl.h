/*
 * cli_curl.h — libcurl for the commands that read the control API (`stats`,
 * `flows`), opened with dlopen(3) when one of them runs. The daemon never
 * maps libcurl and the twenty libraries it brings (Kerberos, LDAP, SSH,
 * OpenSSL's libssl, …): about 1.7 MiB resident that `switchyard run` would
 * carry for months without calling them once.
 */
#ifndef SWITCHYARD_CLI_CURL_H
#define SWITCHYARD_CLI_CURL_H

#include <curl/curl.h>
#include <stddef.h>

/* The libcurl calls cli_control.c makes, by their libcurl names without `curl_`. */
struct cli_curl {
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
    CURLcode (*easy_perform)(CURL *curl);
    CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
    void (*easy_cleanup)(CURL *curl);
    const char *(*easy_strerror)(CURLcode code);
    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *text);
    void (*slist_free_all)(struct curl_slist *list);
};

/*
 * libcurl's calls, the library opened on the first call and kept for the
 * process. NULL when it cannot be opened; `error` then says why and what to
 * install.
 */
const struct cli_curl *cli_curl_open(char *error, size_t size);

#endif
