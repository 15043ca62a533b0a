/* mem.c -- allocation helpers. A reference broker that runs out of memory has
 * no correct way to go on, so these end the process instead of returning NULL.
 *
 * What it is not: the memory limits. The bounds in the configuration (clients,
 * queue length, packet size, in-flight) are what keep memory in check. */
#include "broker.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

_Noreturn void die_oom(void)
{
    log_error("out of memory");
    abort();
}

static void *check(void *p)
{
    if (!p)
        die_oom();
    return p;
}

void *xmalloc(size_t n)
{
    return check(malloc(n ? n : 1));
}

void *xcalloc(size_t n, size_t size)
{
    return check(calloc(n ? n : 1, size ? size : 1));
}

void *xrealloc(void *p, size_t n)
{
    return check(realloc(p, n ? n : 1));
}

char *xstrndup(const void *s, size_t n)
{
    char *d = xmalloc(n + 1);
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}
