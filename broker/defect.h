/* defect.h -- named, deliberate bugs, one per session rule.
 *
 * What it is for: proving that the scenario suite can fail. `--defect NAME`
 * switches one on; each is a single, clearly marked `if (defect_on(...))` in
 * the code path it breaks, so that reading the broker also shows where each
 * rule is implemented. `--defect list` prints them.
 *
 * What it is not: configuration. A broker with any defect on is wrong by
 * design and says so in its log at start.
 */
#ifndef BROKER_DEFECT_H
#define BROKER_DEFECT_H

#include <stdbool.h>
#include <stdio.h>

enum defect {
    D_CLEAN_START_IGNORED,
    D_SESSION_PRESENT_ALWAYS_0,
    D_SESSION_PRESENT_ALWAYS_1,
    D_EXPIRE_IMMEDIATELY,
    D_NEVER_EXPIRE,
    D_EXPIRY_FROM_FIRST_CLOSE,
    D_EXPIRY_CAP_NOT_REPORTED,
    D_DISCONNECT_EXPIRY_IGNORED,
    D_DISCONNECT_EXPIRY_0X82_MISSING,
    D_OFFLINE_QUEUE_DROPPED,
    D_NO_DUP_ON_REDELIVERY,
    D_NEW_PACKET_ID_ON_REDELIVERY,
    D_RESEND_AFTER_CLEAN_START,
    D_NO_PUBREL_RESEND,
    D_RESEND_ON_LIVE_CONNECTION,
    D_NO_TAKEOVER_DISCONNECT,
    D_WILL_DELAY_IGNORED,
    D_WILL_AFTER_SESSION_END,
    D_WILL_ON_NORMAL_DISCONNECT,
    D_WILL_RETAIN_IGNORED,
    D_MESSAGE_EXPIRY_IGNORED,
    D_EXPIRY_NOT_DECREMENTED,
    D_RECEIVE_MAXIMUM_IGNORED,
    D_RETAIN_ON_RESUME,
    D_RETAIN_AS_PUBLISHED_IGNORED,
    D_NO_LOCAL_IGNORED,
    D_SUBSCRIPTION_ID_DROPPED,
    D_V311_CLEAN_SESSION_IGNORED,
    D_SECOND_CONNECT_ACCEPTED,
    D_TOPIC_ALIAS_CARRIED_OVER,
    D_SESSION_OWNERSHIP_IGNORED,
    D_PACKET_ID_IN_USE_REUSED,
    D_MAXIMUM_QOS_MISANNOUNCED,
    D_REFUSAL_SESSION_PRESENT,
    D_OVERLAP_QOS_OF_LAST_MATCH,
    D_V311_EMPTY_ID_CLEAN_SESSION_0_ACCEPTED,
    D_ASSIGNED_ID_NOT_SENT,
    D_ERROR_DISCONNECT_LEFT_OPEN,
    D_KEEP_ALIVE_NOT_ENFORCED,
    D_MAXIMUM_PACKET_SIZE_IGNORED,
    D_RESERVED_CONNECT_FLAG_IGNORED,
    D_WILL_ALWAYS_RETAINED,
    D_NO_WILL_ON_NETWORK_DROP,
    D_WILL_PROPERTIES_DROPPED,
    D_REMAINING_LENGTH_UNBOUNDED,
    D_MALFORMED_PACKET_SKIPPED,
    D_PARTIAL_PACKET_DROPPED,
    D_PARTIAL_PACKET_STOPS_KEEP_ALIVE,
    D_IGNORE_MAX_PACKET_SIZE,
    D_FLOOD_STARVES_CLIENTS,
    D_RESTART_FORGETS_QUEUE,
    D_RESTART_FORGETS_SUBSCRIPTIONS,
    D_RESTART_EXPIRY_LOST,
    D_RESTART_FORGETS_CLEAN_START_1,
    D_COUNT
};

bool defect_on(enum defect d);
/* Returns 0, or -1 for an unknown name. */
int defect_enable(const char *name);
const char *defect_name(enum defect d);
void defect_list(FILE *out);
/* Comma-separated names of the defects that are on, or "" (static buffer). */
const char *defect_enabled_names(void);

#endif
