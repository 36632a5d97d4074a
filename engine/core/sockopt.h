/*
 * sockopt.h — small socket helpers shared by inbounds, outbounds and the
 * relay: non-blocking outgoing TCP sockets with the routing mark, resets,
 * and the errno → short text used in flow log lines.
 */
#ifndef SWITCHYARD_SOCKOPT_H
#define SWITCHYARD_SOCKOPT_H

#include <stdint.h>
#include <sys/socket.h>

/*
 * Opens a non-blocking, close-on-exec TCP socket of `family` with SO_MARK
 * `mark` (0: none) and starts connecting it to `sa`. Returns the descriptor
 * (connect in progress or done), or -errno. Every socket switchyard opens
 * towards the outside goes through here, so every one carries the mark that
 * the generated firewall rules skip (loop prevention).
 */
int sockopt_tcp_connect(const struct sockaddr *sa, socklen_t len, uint32_t mark);

/* The pending error of a connecting socket (SO_ERROR): 0 once connected. */
int sockopt_socket_error(int fd);

/* Closes `fd` so the peer sees a reset (SO_LINGER with zero timeout). */
void sockopt_reset_close(int fd);

#endif
