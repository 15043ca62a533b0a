/* store.c -- durable sessions: the writing side of DIR/store.log.
 *
 * What it is for: with --data DIR, every change of state that must survive a
 * crash (sessions, subscriptions, queued and in-flight copies, inbound QoS 2
 * ids awaiting PUBREL, Wills, retained messages) is appended as a record (the
 * format is in store.h) to a buffer by the store_* hooks. store_commit()
 * writes that buffer to the log and, with sync `always`, fdatasyncs it; conn.c
 * calls it before any byte of output leaves the broker, so an acknowledgement
 * (PUBACK, PUBREC, SUBACK, CONNACK) is never sent for a change that is not in
 * the log yet. Since output is flushed once per event-loop batch, that is one
 * write and one sync per batch whatever the number of records in it (group
 * commit). With `batch` the sync runs at most every sync_interval_ms; with
 * `none` it is left to the kernel. In every mode the write() itself happens
 * before the acknowledgement, so a killed broker process loses nothing; the
 * sync policy only matters when the machine itself stops.
 *
 * Compaction: when the log is past compact_min bytes and four times the size
 * of the last snapshot, the live state is written as a fresh log (a snapshot:
 * the same records, only those still true) to store.log.new, synced, and
 * renamed over store.log. The broker also starts with one, right after
 * loading, so every run starts from a compact log.
 *
 * What it is not: the reading side (store_load.c), or a database. Records are
 * only appended; nothing is read back while the broker runs.
 */
#include "broker.h"
#include "log.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

bool store_on;

static char *dir;
static int log_fd = -1, lock_fd = -1;
static mqtt_buf pend;               /* records of this batch, not yet written */
static size_t rec_start;            /* offset in pend of the record being built */
static uint64_t log_size;           /* bytes in store.log */
static uint64_t snapshot_size;      /* bytes of the last snapshot */
static uint64_t next_msg, next_del;
static uint32_t epoch;              /* one per file: a message is written once in each */
static bool unsynced;
static struct ev_timer sync_timer;
static uint64_t nsyncs, ncommits;

/* ---- CRC-32 (IEEE 802.3, reflected), table built on first use ---- */

uint32_t store_crc32(const uint8_t *p, size_t n)
{
    static uint32_t table[256];
    if (!table[1]) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
    }
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

uint64_t store_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- encoding into `pend` ---- */

static void put(const void *p, size_t n)
{
    if (mqtt_buf_append(&pend, p, n) != 0)
        die_oom();
}

static void put_u8(uint8_t v)
{
    put(&v, 1);
}

static void put_u16(uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    put(b, 2);
}

static void put_u32(uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    put(b, 4);
}

static void put_u64(uint64_t v)
{
    put_u32((uint32_t)(v >> 32));
    put_u32((uint32_t)v);
}

static void put_bytes(const void *p, size_t n)
{
    put_u32((uint32_t)n);
    if (n)
        put(p, n);
}

static void put_str(const char *s)
{
    put_bytes(s ? s : "", s ? strlen(s) : 0);
}

static void begin(uint8_t type)
{
    rec_start = pend.len;
    put_u32(0);
    put_u32(0);
    put_u8(type);
}

static void end(void)
{
    uint8_t *r = pend.data + rec_start;
    uint32_t len = (uint32_t)(pend.len - rec_start - 8);
    uint32_t crc = store_crc32(r + 8, len);
    for (int i = 0; i < 4; i++) {
        r[i] = (uint8_t)(len >> (24 - 8 * i));
        r[4 + i] = (uint8_t)(crc >> (24 - 8 * i));
    }
}

/* ---- records ---- */

/* Copies of a session only go to disk once it has a record and outlives its
 * connection: a session with expiry 0 ends with the connection, and the crash
 * cannot make it last longer. */
static bool durable(const struct session *s)
{
    return s->stored && s->expiry != 0;
}

static void rec_msg(struct msg *m)
{
    if (m->store_epoch == epoch && m->store_id)
        return;
    if (!m->store_id)
        m->store_id = ++next_msg;
    m->store_epoch = epoch;
    uint64_t now = ev_now();
    uint64_t waited = now > m->received ? now - m->received : 0;
    begin(R_MSG);
    put_u64(m->store_id);
    put_bytes(m->topic, m->topic_len);
    put_bytes(m->payload, m->payload_len);
    put_u8(m->qos);
    put_u8(m->retain);
    put_u8(m->has_expiry);
    put_u32(m->expiry);
    put_u64(store_wall_ms() - waited);
    put_str(m->origin);
    put_u32(m->props.count);
    for (uint32_t i = 0; i < m->props.count; i++) {
        const mqtt_prop *p = &m->props.items[i];
        put_u8(p->id);
        put_u32(p->num);
        put_bytes(p->str.data, p->str.len);
        put_bytes(p->str2.data, p->str2.len);
    }
    end();
}

static void rec_sess(const struct session *s)
{
    begin(R_SESS);
    put_str(s->id);
    put_u8(s->version);
    put_u32(s->expiry);
    put_str(s->owner ? s->owner : "");     /* owner's user name; "" anonymous */
    end();
}

static void rec_off(const struct session *s)
{
    begin(R_OFF);
    put_str(s->id);
    put_u64(s->offline_wall);
    put_u32(s->expiry);
    end();
}

static void rec_will(const struct session *s)
{
    if (s->will)
        rec_msg(s->will->m);
    begin(R_WILL);
    put_str(s->id);
    put_u64(s->will ? s->will->m->store_id : 0);
    put_u32(s->will ? s->will->delay : 0);
    end();
}

static void rec_sub(const struct session *s, const struct sub *sub)
{
    begin(R_SUB);
    put_str(s->id);
    put_str(sub->filter);
    put_u8(sub->qos);
    put_u8((uint8_t)(sub->no_local | sub->rap << 1 | sub->rh << 2));
    put_u32(sub->subid);
    end();
}

static void rec_dq(const struct session *s, struct delivery *d)
{
    rec_msg(d->m);
    if (!d->store_id)
        d->store_id = ++next_del;
    begin(R_DQ);
    put_u64(d->store_id);
    put_str(s->id);
    put_u64(d->m->store_id);
    put_u8(d->qos);
    put_u8(d->retain);
    put_u32(d->nsubids);
    for (uint32_t i = 0; i < d->nsubids; i++)
        put_u32(d->subids[i]);
    end();
}

static void rec_dstate(const struct delivery *d)
{
    begin(R_DSTATE);
    put_u64(d->store_id);
    put_u8(d->state);
    put_u16(d->packet_id);
    put_u32(d->sent_expiry);
    end();
}

static void rec_q2(const struct session *s, uint16_t id, bool add)
{
    begin(R_Q2);
    put_str(s->id);
    put_u16(id);
    put_u8(add);
    end();
}

static void rec_retain(struct msg *m)
{
    bool del = m->payload_len == 0;
    if (!del)
        rec_msg(m);
    begin(R_RETAIN);
    put_str(m->topic);
    put_u64(del ? 0 : m->store_id);
    end();
}

/* ---- hooks (callers test store_on first) ---- */

void store_session(struct session *s)
{
    if (!s->stored && s->expiry == 0 && !s->will)
        return;
    s->stored = true;
    s->offline_wall = 0;
    rec_sess(s);
    rec_will(s);
}

void store_session_offline(struct session *s)
{
    if (s->stored)
        rec_off(s);
}

void store_session_end(struct session *s)
{
    if (!s->stored)
        return;
    begin(R_END);
    put_str(s->id);
    end();
    s->stored = false;
}

void store_will(struct session *s)
{
    if (s->stored)
        rec_will(s);
}

void store_sub_add(struct session *s, const struct sub *sub)
{
    if (durable(s))
        rec_sub(s, sub);
}

void store_sub_remove(struct session *s, mqtt_bytes filter)
{
    if (!durable(s))
        return;
    begin(R_UNSUB);
    put_str(s->id);
    put_bytes(filter.data, filter.len);
    end();
}

void store_delivery_queued(struct session *s, struct delivery *d)
{
    if (durable(s))
        rec_dq(s, d);
}

void store_delivery_state(struct session *s, struct delivery *d)
{
    if (d->store_id)
        rec_dstate(d);
}

void store_delivery_done(struct session *s, struct delivery *d)
{
    if (!d->store_id)
        return;
    begin(R_DDEL);
    put_u64(d->store_id);
    end();
    d->store_id = 0;
}

void store_qos2_in(struct session *s, uint16_t id, bool add)
{
    if (durable(s))
        rec_q2(s, id, add);
}

void store_retain(const struct msg *m)
{
    rec_retain((struct msg *)m);
}

/* ---- files ---- */

static char *path_in(const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* A failed write or sync leaves the log behind what was acknowledged or about
 * to be: the only safe answer is to stop before anything else is sent. */
_Noreturn static void fatal(const char *what)
{
    log_error("store %s/%s: %s: %s; stopping (nothing more is acknowledged)", dir, STORE_LOG,
              what, strerror(errno));
    _exit(1);
}

static void write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            fatal("write");
        p += w;
        n -= (size_t)w;
    }
}

static void sync_fd(int fd)
{
    if (fdatasync(fd) != 0)
        fatal("fdatasync");
    nsyncs++;
}

static void sync_dir(void)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static void snap_sub_state(struct session *s)
{
    for (const struct sub *sub = s->subs; sub; sub = sub->snext)
        rec_sub(s, sub);
    for (uint32_t i = 0; i < s->nqos2_in; i++)
        rec_q2(s, s->qos2_in[i], true);
    for (struct delivery *d = s->inflight.head; d; d = d->next) {
        rec_dq(s, d);
        rec_dstate(d);
    }
    for (struct delivery *d = s->queue.head; d; d = d->next)
        rec_dq(s, d);
}

static void snap_retained(struct msg *m)
{
    rec_retain(m);
}

/* The live state as a new log, replacing the old one atomically. */
static void compact(void)
{
    uint64_t t0 = ev_now();
    pend.len = 0;
    epoch++;
    put(STORE_MAGIC, STORE_MAGIC_LEN);
    retain_foreach(snap_retained);
    uint32_t nsess = 0;
    for (struct session *s = session_first(); s; s = s->next) {
        if (!s->stored)
            continue;
        nsess++;
        rec_sess(s);
        if (!s->conn)
            rec_off(s);
        rec_will(s);
        if (s->expiry != 0)
            snap_sub_state(s);
    }
    char *tmp = path_in(STORE_LOG_NEW), *final = path_in(STORE_LOG);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        fatal("cannot create " STORE_LOG_NEW);
    write_all(fd, pend.data, pend.len);
    if (fsync(fd) != 0)
        fatal("fsync of " STORE_LOG_NEW);
    if (rename(tmp, final) != 0)
        fatal("rename of " STORE_LOG_NEW);
    sync_dir();
    if (log_fd >= 0)
        close(log_fd);
    log_fd = fd;
    if (lseek(log_fd, 0, SEEK_END) < 0)
        fatal("lseek");
    log_size = snapshot_size = pend.len;
    unsynced = false;
    log_debug("store: compacted to %llu bytes (%u sessions) in %llu ms",
              (unsigned long long)log_size, nsess, (unsigned long long)(ev_now() - t0));
    pend.len = 0;
    if (pend.cap > (1u << 20))
        mqtt_buf_free(&pend);
    free(tmp);
    free(final);
}

static void sync_fire(void *arg)
{
    if (unsynced && log_fd >= 0) {
        sync_fd(log_fd);
        unsynced = false;
    }
}

void store_commit(void)
{
    if (!store_on || pend.len == 0)
        return;
    ncommits++;
    write_all(log_fd, pend.data, pend.len);
    log_size += pend.len;
    pend.len = 0;
    if (pend.cap > (1u << 20))
        mqtt_buf_free(&pend);
    if (log_size > cfg.compact_min && log_size > 4 * snapshot_size) {
        compact();      /* synced on its own */
        return;
    }
    switch (cfg.sync) {
    case STORE_SYNC_ALWAYS:
        sync_fd(log_fd);
        break;
    case STORE_SYNC_BATCH:
        unsynced = true;
        if (!ev_timer_active(&sync_timer))
            ev_timer_start(&sync_timer, cfg.sync_interval_ms);
        break;
    default:
        break;
    }
}

static int fail(const char *what, const char *path)
{
    fprintf(stderr, "mqspec-broker: --data %s: %s%s%s\n", dir, what, path ? ": " : "",
            path ? path : "");
    return -1;
}

static int read_file(const char *path, uint8_t **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    *buf = xmalloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, *buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    *len = got;
    return 0;
}

int store_open(const char *d)
{
    dir = xstrdup(d);
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno != ENOENT || mkdir(dir, 0700) != 0)
            return fail(strerror(errno), NULL);
    } else if (!S_ISDIR(st.st_mode)) {
        return fail("not a directory", NULL);
    }
    char *lock = path_in(STORE_LOCK);
    lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd < 0) {
        int e = errno;
        free(lock);
        return fail("cannot write in it", strerror(e));
    }
    free(lock);
    if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0)
        return fail("in use by another mqspec-broker (its lock file is held)", NULL);
    /* A root process passes permission checks on open; a read-only mount or a
     * full disk shows only on writing, and better now than at the first ack. */
    if (write(lock_fd, "", 0) < 0 || ftruncate(lock_fd, 0) != 0)
        return fail("cannot write in it", strerror(errno));

    char *path = path_in(STORE_LOG);
    uint8_t *buf;
    size_t len;
    if (read_file(path, &buf, &len) != 0) {
        int e = errno;
        fail(strerror(e), path);
        free(path);
        return -1;
    }
    uint64_t t0 = ev_now();
    size_t kept = 0;
    if (buf && len > 0) {
        if (len < STORE_MAGIC_LEN || memcmp(buf, STORE_MAGIC, STORE_MAGIC_LEN) != 0) {
            free(buf);
            fail("not an mqspec-broker store (bad header); move it away to start empty", path);
            free(path);
            return -1;
        }
        kept = store_replay(buf + STORE_MAGIC_LEN, len - STORE_MAGIC_LEN, &next_msg, &next_del);
        if (STORE_MAGIC_LEN + kept < len)
            log_warn("store %s: %zu bytes after offset %zu are not a whole valid record "
                     "(a write cut short by a crash): dropped",
                     path, len - STORE_MAGIC_LEN - kept, STORE_MAGIC_LEN + kept);
    }
    free(buf);
    free(path);
    ev_timer_init(&sync_timer, sync_fire, NULL);
    store_on = true;
    store_restore_finish();     /* may publish Wills: records go to `pend` */
    compact();
    log_info("store %s: %u sessions loaded from %zu bytes in %llu ms (sync %s)", dir,
             session_count(), kept, (unsigned long long)(ev_now() - t0),
             cfg.sync == STORE_SYNC_ALWAYS ? "always" : cfg.sync == STORE_SYNC_BATCH ? "batch" : "none");
    return 0;
}

void store_close(void)
{
    if (!store_on)
        return;
    store_commit();
    if (log_fd >= 0) {
        if (cfg.sync != STORE_SYNC_NONE || unsynced)
            fdatasync(log_fd);
        close(log_fd);
    }
    ev_timer_stop(&sync_timer);
    log_debug("store: %llu commits, %llu syncs", (unsigned long long)ncommits,
              (unsigned long long)nsyncs);
    mqtt_buf_free(&pend);
    if (lock_fd >= 0)
        close(lock_fd);
    log_fd = lock_fd = -1;
    free(dir);
    dir = NULL;
    store_on = false;
}
