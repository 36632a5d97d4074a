/*
 * relay.h — moving bytes both ways between the client and upstream sockets
 * once a flow's handshakes are done.
 *
 * Each direction copies socket → pipe → socket with splice(2), so payload
 * never crosses into user space. The pipe is borrowed from the engine's pipe
 * pool only while it holds bytes: an idle flow holds two descriptors (its
 * sockets), not six. Bytes that exist only in memory (sniffed client bytes,
 * replies of an explicit-proxy inbound, bytes read past an upstream
 * handshake) are written first from a buffer. When no pipe can be had
 * (descriptor pressure) a chunk goes through a 16 KiB buffer with
 * recv/send instead; memory, too, is held only while bytes are in flight.
 *
 * Back-pressure: a direction reads only while its pipe or buffer is empty, so
 * at most one pipe (64 KiB, or 1 MiB once grown for a stream: see
 * pipe_pool.h) or one buffer is in flight per direction; a slow reader stops
 * the other side's reads instead of growing memory.
 *
 * Half-close: end of stream from one side is passed on with
 * shutdown(SHUT_WR) once everything before it was written; the other
 * direction keeps going. The relay ends when both directions are finished,
 * on an error, or after `idle_s` seconds without a byte either way.
 *
 * Resets: a read or write that fails on one side (ECONNRESET, EPIPE, or any
 * other socket error) ends the relay at once and names that side in
 * `failed`; the owner of the sockets then closes the other side with a
 * reset, so that a cut stream never looks like a complete one (a clean end
 * of stream is only ever passed on as a FIN). The relay's own cuts (the idle
 * timeout, no memory for a buffer) are no clean end for either side: both
 * are named (RELAY_BOTH) and both see a reset. splice(2) into a reset socket
 * raises SIGPIPE: the process ignores it (`switchyard run` does).
 */
#ifndef SWITCHYARD_RELAY_H
#define SWITCHYARD_RELAY_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/tcp/pipe_pool.h"

struct relay;

struct relay_dir {
    struct relay *relay;
    int from, to;               /* descriptors (owned by the flow) */
    ev_io rd;                   /* `from` readable */
    ev_io wr;                   /* `to` writable */
    struct pipe_pool_pipe pipe; /* borrowed splice pipe while it holds bytes, else fd -1 */
    size_t in_pipe;             /* bytes in the pipe not yet written to `to` */
    uint8_t *buf;               /* bytes in memory not yet written (prefix, buffered chunk) */
    size_t buf_len, buf_off, buf_cap;
    bool eof;       /* `from` reached end of stream */
    bool shut;      /* shutdown(to, SHUT_WR) done: this direction is finished */
    uint64_t bytes; /* bytes written to `to` */
};

/* Which side's socket failed (the relay's end was not clean for the other). */
enum relay_side {
    RELAY_NEITHER,
    RELAY_CLIENT,
    RELAY_UPSTREAM,
    RELAY_BOTH, /* the relay itself cut the stream: neither side ended it */
};

struct relay {
    struct ev_loop *loop;
    struct pipe_pool *pipes;
    struct relay_dir up;   /* client → upstream */
    struct relay_dir down; /* upstream → client */
    ev_timer idle;
    double idle_s;
    ev_tstamp last_active;
    bool running;
    enum relay_side failed; /* set before on_end when the end was not clean (above) */
    /* Called once when the relay ends; `reason` is "done", "idle timeout", "reset by
     * client", "reset by upstream", or another error text naming the side. */
    void (*on_end)(struct relay *r, const char *reason);
};

/*
 * Starts relaying between `client_fd` and `upstream_fd`. `to_upstream` and
 * `to_client` are written first (copied; either may be empty).
 * `client_eof` says the client already half-closed (during sniffing): the
 * upstream gets SHUT_WR after `to_upstream`. Returns 0, or -1 when out of
 * memory (nothing started).
 */
int relay_start(struct relay *r, struct ev_loop *loop, struct pipe_pool *pipes, int client_fd,
                int upstream_fd, const uint8_t *to_upstream, size_t up_len,
                const uint8_t *to_client, size_t down_len, bool client_eof, double idle_s,
                void (*on_end)(struct relay *r, const char *reason));

/* Stops every watcher, hands the pipes back (or closes them if not empty), frees buffers.
 * Does not close the sockets. Safe on a relay that never started or already stopped. */
void relay_stop(struct relay *r);

#endif
