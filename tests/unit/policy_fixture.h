/*
 * policy_fixture.h — test helpers: write a policy (and the files it names)
 * into a private temporary folder and load it. Included by the policy
 * tests, after cmocka.h.
 */
#ifndef SWITCHYARD_TEST_POLICY_FIXTURE_H
#define SWITCHYARD_TEST_POLICY_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rules/policy.h"

static char fixture_dir[64];

/* Writes `text` to FILE in the fixture folder (made on first use); returns its path. */
static inline const char *fixture_write(const char *name, const char *text)
{
    static char path[256];
    if (!fixture_dir[0]) {
        strcpy(fixture_dir, "/tmp/switchyard-test-XXXXXX");
        if (!mkdtemp(fixture_dir))
            abort();
    }
    snprintf(path, sizeof(path), "%s/%s", fixture_dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fputs(text, f);
    fclose(f);
    return path;
}

static inline void fixture_cleanup(void)
{
    if (fixture_dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fixture_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", fixture_dir);
    }
}

/* Loads `yaml` written as policy.yaml; on failure copies the message into `error`. */
static inline struct policy *fixture_policy(const char *yaml, char error[POLICY_ERROR_MAX])
{
    char path[256];
    snprintf(path, sizeof(path), "%s", fixture_write("policy.yaml", yaml));
    return policy_load(path, error);
}

/* Loads `yaml`, failing the test with the loader's message when it does not load. */
static inline struct policy *fixture_policy_ok(const char *yaml)
{
    char error[POLICY_ERROR_MAX];
    struct policy *p = fixture_policy(yaml, error);
    if (!p)
        fail_msg("%s", error);
    return p;
}

/* A cmocka group teardown that removes the fixture folder. */
static inline int fixture_teardown(void **state)
{
    (void)state;
    fixture_cleanup();
    return 0;
}

#endif
