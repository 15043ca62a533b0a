/* defect.c -- the table of deliberate bugs; see defect.h. The checks
 * themselves live where the rule is implemented: grep for the enum name. */
#include "defect.h"

#include <string.h>

static const struct {
    const char *name;
    const char *what;
} table[D_COUNT] = {
    [D_CLEAN_START_IGNORED] = {"clean-start-ignored",
        "MQTT 5 Clean Start 1 resumes an existing session instead of discarding it"},
    [D_SESSION_PRESENT_ALWAYS_0] = {"session-present-always-0",
        "CONNACK Session Present is always 0, even when a session was resumed"},
    [D_SESSION_PRESENT_ALWAYS_1] = {"session-present-always-1",
        "CONNACK Session Present is always 1 on an accepted CONNECT"},
    [D_EXPIRE_IMMEDIATELY] = {"expire-immediately",
        "every session ends when its connection closes, whatever its Session Expiry"},
    [D_NEVER_EXPIRE] = {"never-expire",
        "a session with a finite non-zero Session Expiry Interval never expires"},
    [D_EXPIRY_FROM_FIRST_CLOSE] = {"expiry-from-first-close",
        "the expiry clock counts from the first close of a session, not the latest"},
    [D_EXPIRY_CAP_NOT_REPORTED] = {"expiry-cap-not-reported",
        "the max_session_expiry cap is applied but not reported in CONNACK"},
    [D_DISCONNECT_EXPIRY_IGNORED] = {"disconnect-expiry-ignored",
        "a Session Expiry Interval in DISCONNECT does not replace the CONNECT value"},
    [D_DISCONNECT_EXPIRY_0X82_MISSING] = {"disconnect-expiry-0x82-missing",
        "DISCONNECT with SEI > 0 after CONNECT SEI 0 is accepted (no 0x82) and applied"},
    [D_OFFLINE_QUEUE_DROPPED] = {"offline-queue-dropped",
        "messages for a disconnected session are dropped instead of queued"},
    [D_NO_DUP_ON_REDELIVERY] = {"no-dup-on-redelivery",
        "in-flight PUBLISHes resent on resume have DUP 0"},
    [D_NEW_PACKET_ID_ON_REDELIVERY] = {"new-packet-id-on-redelivery",
        "in-flight PUBLISHes resent on resume get new packet identifiers"},
    [D_RESEND_AFTER_CLEAN_START] = {"resend-after-clean-start",
        "unacknowledged messages of a discarded session are resent to the new one"},
    [D_NO_PUBREL_RESEND] = {"no-pubrel-resend",
        "a PUBREL awaiting PUBCOMP is not resent on resume"},
    [D_RESEND_ON_LIVE_CONNECTION] = {"resend-on-live-connection",
        "an unacknowledged PUBLISH is resent (DUP 1) after 2 s on the same connection"},
    [D_NO_TAKEOVER_DISCONNECT] = {"no-takeover-disconnect",
        "a taken-over MQTT 5 connection is closed without DISCONNECT 0x8E"},
    [D_WILL_DELAY_IGNORED] = {"will-delay-ignored",
        "the Will is published at close, ignoring the Will Delay Interval"},
    [D_WILL_AFTER_SESSION_END] = {"will-after-session-end",
        "a delayed Will waits for its full delay even when the session ends first"},
    [D_WILL_ON_NORMAL_DISCONNECT] = {"will-on-normal-disconnect",
        "the Will is published after DISCONNECT 0x00 too"},
    [D_WILL_RETAIN_IGNORED] = {"will-retain-ignored",
        "the Will is never retained, whatever its Will Retain flag"},
    [D_MESSAGE_EXPIRY_IGNORED] = {"message-expiry-ignored",
        "queued messages whose Message Expiry Interval passed are still delivered"},
    [D_EXPIRY_NOT_DECREMENTED] = {"expiry-not-decremented",
        "the forwarded Message Expiry Interval is the received one, not the remaining time"},
    [D_RECEIVE_MAXIMUM_IGNORED] = {"receive-maximum-ignored",
        "the client's Receive Maximum does not bound QoS 1/2 PUBLISHes in flight"},
    [D_RETAIN_ON_RESUME] = {"retain-on-resume",
        "resuming a session replays matching retained messages"},
    [D_RETAIN_AS_PUBLISHED_IGNORED] = {"retain-as-published-ignored",
        "forwarded messages always have RETAIN 0, even with Retain As Published 1"},
    [D_NO_LOCAL_IGNORED] = {"no-local-ignored",
        "No Local is ignored: a client receives its own messages"},
    [D_SUBSCRIPTION_ID_DROPPED] = {"subscription-id-dropped",
        "Subscription Identifiers are not kept with the session: lost on resume"},
    [D_V311_CLEAN_SESSION_IGNORED] = {"v311-clean-session-ignored",
        "MQTT 3.1.1 CleanSession 1 keeps and resumes the previous session"},
    [D_SECOND_CONNECT_ACCEPTED] = {"second-connect-accepted",
        "a second CONNECT on a connection is answered with CONNACK, not closed"},
    [D_TOPIC_ALIAS_CARRIED_OVER] = {"topic-alias-carried-over",
        "inbound Topic Alias mappings survive into the session's next connection"},
    [D_SESSION_OWNERSHIP_IGNORED] = {"session-ownership-ignored",
        "any user may resume or take over another user's session by its client id"},
    [D_PACKET_ID_IN_USE_REUSED] = {"packet-id-in-use-reused",
        "the packet id counter restarts with each connection and reuses ids still in flight"},
    [D_MAXIMUM_QOS_MISANNOUNCED] = {"maximum-qos-misannounced",
        "CONNACK announces Maximum QoS 1, yet a Will QoS 2 (and QoS 2 otherwise) is accepted"},
    [D_REFUSAL_SESSION_PRESENT] = {"refusal-session-present",
        "a CONNACK refusing a CONNECT has Session Present 1"},
    [D_OVERLAP_QOS_OF_LAST_MATCH] = {"overlap-qos-of-last-match",
        "a message matching several subscriptions goes at the QoS of the last, not the highest"},
    [D_V311_EMPTY_ID_CLEAN_SESSION_0_ACCEPTED] = {"v311-empty-id-clean-session-0-accepted",
        "a 3.1.1 zero-length client id with CleanSession 0 is accepted (an id is assigned)"},
    [D_ASSIGNED_ID_NOT_SENT] = {"assigned-id-not-sent",
        "a zero-length client id is accepted, but CONNACK carries no Assigned Client Identifier"},
    [D_ERROR_DISCONNECT_LEFT_OPEN] = {"error-disconnect-left-open",
        "after a protocol error the server sends DISCONNECT but keeps the connection open"},
    [D_KEEP_ALIVE_NOT_ENFORCED] = {"keep-alive-not-enforced",
        "a client silent for 1.5 x its Keep Alive is never disconnected"},
    [D_MAXIMUM_PACKET_SIZE_IGNORED] = {"maximum-packet-size-ignored",
        "PUBLISHes larger than the client's Maximum Packet Size are sent anyway"},
    [D_RESERVED_CONNECT_FLAG_IGNORED] = {"reserved-connect-flag-ignored",
        "a CONNECT with the reserved Connect Flags bit set is accepted (the bit is masked)"},
    [D_WILL_ALWAYS_RETAINED] = {"will-always-retained",
        "the Will is published retained, whatever its Will Retain flag"},
    [D_NO_WILL_ON_NETWORK_DROP] = {"no-will-on-network-drop",
        "the Will is discarded when the connection ends, so it is never published"},
    [D_WILL_PROPERTIES_DROPPED] = {"will-properties-dropped",
        "the Will's properties (User Properties among them) are not kept with it"},
    [D_REMAINING_LENGTH_UNBOUNDED] = {"remaining-length-unbounded",
        "a Remaining Length longer than four bytes is not refused: the broker waits for its end"},
    [D_MALFORMED_PACKET_SKIPPED] = {"malformed-packet-skipped",
        "a malformed packet after CONNECT is skipped and the connection kept open"},
    [D_PARTIAL_PACKET_DROPPED] = {"partial-packet-dropped",
        "bytes of an incomplete packet left at the end of a read are thrown away"},
    [D_PARTIAL_PACKET_STOPS_KEEP_ALIVE] = {"partial-packet-stops-keep-alive",
        "Keep Alive is not enforced while a packet is incomplete: a client that stalls mid-packet stays"},
    [D_IGNORE_MAX_PACKET_SIZE] = {"ignore-max-packet-size",
        "a packet bigger than max_packet_size is buffered and processed, not refused"},
    [D_FLOOD_STARVES_CLIENTS] = {"flood-starves-clients",
        "while 64 connections wait for their CONNECT, nothing is read from connected clients"},
    [D_RESTART_FORGETS_QUEUE] = {"restart-forgets-queue",
        "after a restart (--data), the messages queued or in flight for a session are not restored"},
    [D_RESTART_FORGETS_SUBSCRIPTIONS] = {"restart-forgets-subscriptions",
        "after a restart (--data), a session's subscriptions are not restored"},
    [D_RESTART_EXPIRY_LOST] = {"restart-expiry-lost",
        "after a restart (--data), a session's Session Expiry is taken as 0: every stored session ends"},
    [D_RESTART_FORGETS_CLEAN_START_1] = {"restart-forgets-clean-start-1",
        "with --data, only sessions whose CONNECT had Clean Start 0 are saved (the 3.1.1 rule), not one begun with Clean Start 1 and a Session Expiry"},
};

static bool on[D_COUNT];

bool defect_on(enum defect d)
{
    return on[d];
}

const char *defect_name(enum defect d)
{
    return table[d].name;
}

int defect_enable(const char *name)
{
    for (int i = 0; i < D_COUNT; i++) {
        if (strcmp(table[i].name, name) == 0) {
            on[i] = true;
            return 0;
        }
    }
    return -1;
}

void defect_list(FILE *out)
{
    for (int i = 0; i < D_COUNT; i++)
        fprintf(out, "%-32s %s\n", table[i].name, table[i].what);
}

const char *defect_enabled_names(void)
{
    static char buf[1024];
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < D_COUNT; i++) {
        if (!on[i])
            continue;
        size_t l = strlen(table[i].name);
        if (n + l + 2 >= sizeof buf)
            break;
        if (n)
            buf[n++] = ',';
        memcpy(buf + n, table[i].name, l + 1);
        n += l;
    }
    return buf;
}
