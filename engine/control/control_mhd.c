/*
 * control_mhd.c — libmicrohttpd opened when the control plane starts.
 *
 * Linked, libmicrohttpd would map GnuTLS and the libraries it pulls in
 * (p11-kit, nettle, hogweed, gmp, libtasn1, libunistring, libidn2: about
 * 2.3 MiB resident) into every daemon, whether its policy turns the control
 * plane on or not. The daemon is linked against this file instead: it
 * defines the few libmicrohttpd functions switchyard calls, with the
 * library's own prototypes (microhttpd.h checks them), and each forwards to
 * the library, which the first call opens with dlopen. MHD_start_daemon is
 * always that first call (nothing else is reachable without a daemon), so a
 * missing library makes it fail with one log line and the control plane
 * reports it as any other start failure.
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "engine/core/log.h"
#include "rules/util.h"

/* Debian's libmicrohttpd12 (and OpenWrt's) install it under this name. */
#define CONTROL_MHD_SONAME "libmicrohttpd.so.12"

static struct {
    enum MHD_Result (*add_response_header)(struct MHD_Response *, const char *, const char *);
    enum MHD_Result (*queue_response)(struct MHD_Connection *, unsigned int, struct MHD_Response *);
    const char *(*lookup_connection_value)(struct MHD_Connection *, enum MHD_ValueKind,
                                           const char *);
    void (*destroy_response)(struct MHD_Response *);
    enum MHD_Result (*upgrade_action)(struct MHD_UpgradeResponseHandle *, enum MHD_UpgradeAction,
                                      ...);
    struct MHD_Response *(*create_response_from_buffer)(size_t, void *,
                                                        enum MHD_ResponseMemoryMode);
    struct MHD_Response *(*create_response_from_callback)(uint64_t, size_t,
                                                          MHD_ContentReaderCallback, void *,
                                                          MHD_ContentReaderFreeCallback);
    struct MHD_Response *(*create_response_for_upgrade)(MHD_UpgradeHandler, void *);
    enum MHD_Result (*run)(struct MHD_Daemon *);
    void (*suspend_connection)(struct MHD_Connection *);
    void (*resume_connection)(struct MHD_Connection *);
    struct MHD_Daemon *(*start_daemon_va)(unsigned int, uint16_t, MHD_AcceptPolicyCallback, void *,
                                          MHD_AccessHandlerCallback, void *, va_list);
    void (*stop_daemon)(struct MHD_Daemon *);
    enum MHD_Result (*get_timeout)(struct MHD_Daemon *, MHD_UNSIGNED_LONG_LONG *);
    const union MHD_DaemonInfo *(*get_daemon_info)(struct MHD_Daemon *, enum MHD_DaemonInfoType,
                                                   ...);
} mhd;

/* Opens the library and looks up every call once; false (logged) when it cannot. */
static bool mhd_open(void)
{
    static bool ready, failed;
    if (ready || failed)
        return ready;
    failed = true;
    void *lib = dlopen(CONTROL_MHD_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        log_error("control: cannot open %s (install libmicrohttpd12): %s", CONTROL_MHD_SONAME,
                  dlerror());
        return false;
    }
    const struct {
        const char *name;
        void *fn;
    } calls[] = {
        {"MHD_add_response_header", &mhd.add_response_header},
        {"MHD_queue_response", &mhd.queue_response},
        {"MHD_lookup_connection_value", &mhd.lookup_connection_value},
        {"MHD_destroy_response", &mhd.destroy_response},
        {"MHD_upgrade_action", &mhd.upgrade_action},
        {"MHD_create_response_from_buffer", &mhd.create_response_from_buffer},
        {"MHD_create_response_from_callback", &mhd.create_response_from_callback},
        {"MHD_create_response_for_upgrade", &mhd.create_response_for_upgrade},
        {"MHD_run", &mhd.run},
        {"MHD_suspend_connection", &mhd.suspend_connection},
        {"MHD_resume_connection", &mhd.resume_connection},
        {"MHD_start_daemon_va", &mhd.start_daemon_va},
        {"MHD_stop_daemon", &mhd.stop_daemon},
        {"MHD_get_timeout", &mhd.get_timeout},
        {"MHD_get_daemon_info", &mhd.get_daemon_info},
    };
    for (size_t i = 0; i < ARRAY_LEN(calls); i++) {
        void *sym = dlsym(lib, calls[i].name);
        if (!sym) {
            log_error("control: %s has no %s", CONTROL_MHD_SONAME, calls[i].name);
            dlclose(lib);
            return false;
        }
        *(void **)calls[i].fn = sym; /* POSIX: function pointers and void * have one size */
    }
    ready = true; /* kept open for the life of the process */
    failed = false;
    return true;
}

struct MHD_Daemon *MHD_start_daemon(unsigned int flags, uint16_t port, MHD_AcceptPolicyCallback apc,
                                    void *apc_cls, MHD_AccessHandlerCallback dh, void *dh_cls, ...)
{
    if (!mhd_open())
        return NULL;
    va_list ap;
    va_start(ap, dh_cls);
    struct MHD_Daemon *d = mhd.start_daemon_va(flags, port, apc, apc_cls, dh, dh_cls, ap);
    va_end(ap);
    return d;
}

/* Only MHD_DAEMON_INFO_EPOLL_FD is asked for: an info type without arguments. */
const union MHD_DaemonInfo *MHD_get_daemon_info(struct MHD_Daemon *daemon,
                                                enum MHD_DaemonInfoType info_type, ...)
{
    return mhd.get_daemon_info(daemon, info_type);
}

/* Only MHD_UPGRADE_ACTION_CLOSE is used: an action without arguments. */
enum MHD_Result MHD_upgrade_action(struct MHD_UpgradeResponseHandle *urh,
                                   enum MHD_UpgradeAction action, ...)
{
    return mhd.upgrade_action(urh, action);
}

void MHD_stop_daemon(struct MHD_Daemon *daemon)
{
    mhd.stop_daemon(daemon);
}

enum MHD_Result MHD_run(struct MHD_Daemon *daemon)
{
    return mhd.run(daemon);
}

enum MHD_Result MHD_get_timeout(struct MHD_Daemon *daemon, MHD_UNSIGNED_LONG_LONG *timeout)
{
    return mhd.get_timeout(daemon, timeout);
}

enum MHD_Result MHD_add_response_header(struct MHD_Response *response, const char *header,
                                        const char *content)
{
    return mhd.add_response_header(response, header, content);
}

enum MHD_Result MHD_queue_response(struct MHD_Connection *connection, unsigned int status_code,
                                   struct MHD_Response *response)
{
    return mhd.queue_response(connection, status_code, response);
}

const char *MHD_lookup_connection_value(struct MHD_Connection *connection, enum MHD_ValueKind kind,
                                        const char *key)
{
    return mhd.lookup_connection_value(connection, kind, key);
}

void MHD_destroy_response(struct MHD_Response *response)
{
    mhd.destroy_response(response);
}

struct MHD_Response *MHD_create_response_from_buffer(size_t size, void *buffer,
                                                     enum MHD_ResponseMemoryMode mode)
{
    return mhd.create_response_from_buffer(size, buffer, mode);
}

struct MHD_Response *MHD_create_response_from_callback(uint64_t size, size_t block_size,
                                                       MHD_ContentReaderCallback crc, void *crc_cls,
                                                       MHD_ContentReaderFreeCallback crfc)
{
    return mhd.create_response_from_callback(size, block_size, crc, crc_cls, crfc);
}

struct MHD_Response *MHD_create_response_for_upgrade(MHD_UpgradeHandler upgrade_handler,
                                                     void *upgrade_handler_cls)
{
    return mhd.create_response_for_upgrade(upgrade_handler, upgrade_handler_cls);
}

void MHD_suspend_connection(struct MHD_Connection *connection)
{
    mhd.suspend_connection(connection);
}

void MHD_resume_connection(struct MHD_Connection *connection)
{
    mhd.resume_connection(connection);
}
