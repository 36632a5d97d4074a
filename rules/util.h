/*
 * util.h — small helpers in C's own terms, for every part of switchyard:
 * nothing here knows a flow, a policy or a socket, so rules/ and geodata/
 * use it as freely as engine/ does.
 */
#ifndef SWITCHYARD_UTIL_H
#define SWITCHYARD_UTIL_H

#include <stddef.h>

/* The number of elements of array `a` (an array, not a pointer to one). */
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The struct that embeds `ptr` as its `member` (watchers find their owner this way). */
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

#endif
