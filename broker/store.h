/* store.h -- what store.c (writing) and store_load.c (reading) share: the
 * record format of DIR/store.log and a few helpers.
 *
 * The file is an 8-byte header "MQSPECS1" followed by records:
 *
 *   u32 length of the body | u32 CRC-32 of the body | body = u8 type, fields
 *
 * big-endian, strings and binaries as u32 length + bytes. A record is only
 * believed when its whole body is there and its CRC matches; the first one
 * that is not ends the log (a torn write of a killed broker), and the file is
 * cut there on load.
 *
 * What it is not: an interface for the rest of the broker, which sees only
 * the store_* calls of broker.h.
 */
#ifndef BROKER_STORE_H
#define BROKER_STORE_H

#include <stddef.h>
#include <stdint.h>

#define STORE_MAGIC "MQSPECS1"
#define STORE_MAGIC_LEN 8
#define STORE_LOG "store.log"
#define STORE_LOG_NEW "store.log.new"
#define STORE_LOCK "lock"
#define STORE_RECORD_MAX ((uint32_t)512 << 20)

enum store_rec {
    R_SESS = 1,     /* id, u8 version, u32 expiry, str owner: connected (CONNECT) */
    R_OFF = 2,      /* id, u64 wall ms of the close, u32 expiry in force */
    R_END = 3,      /* id: the session and everything in it is gone */
    R_WILL = 4,     /* id, u64 msg (0 = none), u32 delay */
    R_SUB = 5,      /* id, str filter, u8 qos, u8 nl|rap<<1|rh<<2, u32 subid */
    R_UNSUB = 6,    /* id, str filter */
    R_MSG = 7,      /* u64 msg, str topic, bin payload, u8 qos, u8 retain,
                     * u8 has_expiry, u32 expiry, u64 wall ms received,
                     * str origin, u32 nprops, {u8 id, u32 num, bin, bin}... */
    R_DQ = 8,       /* u64 delivery, id, u64 msg, u8 qos, u8 retain, u32 n, u32 subid... */
    R_DSTATE = 9,   /* u64 delivery, u8 state, u16 packet id, u32 sent expiry */
    R_DDEL = 10,    /* u64 delivery */
    R_Q2 = 11,      /* id, u16 packet id, u8 add */
    R_RETAIN = 12,  /* str topic, u64 msg (0 = deleted) */
};

uint32_t store_crc32(const uint8_t *p, size_t n);
uint64_t store_wall_ms(void);

/* store_load.c: replays `len` bytes of records (after the header) into the
 * session store. Returns how many bytes were valid records; *maxmsg and
 * *maxdel get the highest ids seen. */
size_t store_replay(const uint8_t *buf, size_t len, uint64_t *maxmsg, uint64_t *maxdel);
/* store_load.c: after the replay, the clocks: expiry and Will delays. */
void store_restore_finish(void);

#endif
