"""run_checks.py -- runs checks.py against build/mqspec-broker and prints TAP.

    run_checks.py BROKER            every check must pass (tests/broker-raw.t)
    run_checks.py BROKER --defects  every defect must be caught (tests/broker-defects.t)

Checks run in parallel: each has its own client ids and topics, and the broker
is single-threaded, so they cannot disturb each other except by load.
"""
import concurrent.futures
import os
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checks  # noqa: E402
from mqttraw import Broker  # noqa: E402

CONFIG = 'max_session_expiry 100\n'

# defect -> the checks that must fail with it on
CATCHES = {
    'clean-start-ignored': ['clean_start_discards'],
    'session-present-always-0': ['resume_session_present'],
    'session-present-always-1': ['clean_start_new_session'],
    'expire-immediately': ['empty_session_present'],
    'never-expire': ['sei_expires'],
    'expiry-from-first-close': ['sei_from_latest_close'],
    'expiry-cap-not-reported': ['sei_cap_reported'],
    'disconnect-expiry-ignored': ['disconnect_sei_changes_expiry'],
    'disconnect-expiry-0x82-missing': ['disconnect_sei_after_zero_is_0x82'],
    'offline-queue-dropped': ['offline_queue'],
    'no-dup-on-redelivery': ['redelivery_qos1'],
    'new-packet-id-on-redelivery': ['redelivery_qos1'],
    'resend-after-clean-start': ['no_resend_after_clean_start'],
    'no-pubrel-resend': ['redelivery_pubrel'],
    'resend-on-live-connection': ['no_resend_on_live_connection'],
    'no-takeover-disconnect': ['takeover'],
    'will-delay-ignored': ['will_delay'],
    'will-after-session-end': ['will_at_session_end'],
    'will-on-normal-disconnect': ['no_will_on_disconnect'],
    'will-retain-ignored': ['will_retain'],
    'message-expiry-ignored': ['message_expiry'],
    'expiry-not-decremented': ['message_expiry'],
    'receive-maximum-ignored': ['receive_maximum_on_resume'],
    'retain-on-resume': ['retained_and_handling'],
    'retain-as-published-ignored': ['subscription_options_survive'],
    'no-local-ignored': ['subscription_options_survive'],
    'subscription-id-dropped': ['subscription_options_survive'],
    'v311-clean-session-ignored': ['v311_session'],
    'second-connect-accepted': ['second_connect'],
    'topic-alias-carried-over': ['topic_alias_not_carried'],
}


def run_one(port, name, fn, n):
    ns = 'bt%d-%d-%s' % (os.getpid(), n, name.replace('_', '')[:16])
    t0 = time.monotonic()
    try:
        fn(port, ns)
        return None, time.monotonic() - t0
    except AssertionError as e:
        return str(e), time.monotonic() - t0
    except Exception:
        return 'error: ' + traceback.format_exc().strip().splitlines()[-1], time.monotonic() - t0


def with_broker(binary, defects, body):
    with tempfile.NamedTemporaryFile('w', suffix='.conf', delete=False) as f:
        f.write(CONFIG)
    log = os.environ.get('BROKER_LOG', os.devnull)
    b = Broker(binary, defects=defects, config=f.name, log=log, verbose=log != os.devnull)
    try:
        out = body(b.port)
    finally:
        rc = b.stop()
        os.unlink(f.name)
    return out, rc


def all_pass(binary):
    table = checks.ALL
    print('1..%d' % (len(table) + 1))

    def body(port):
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(table)) as ex:
            futs = [ex.submit(run_one, port, name, fn, i) for i, (name, fn) in enumerate(table)]
            return [f.result() for f in futs]
    results, rc = with_broker(binary, [], body)
    failed = 0
    for i, ((name, _), (err, dt)) in enumerate(zip(table, results), 1):
        if err:
            failed += 1
            print('not ok %d - %s (%.1f s)\n#   %s' % (i, name, dt, err))
        else:
            print('ok %d - %s (%.1f s)' % (i, name, dt))
    if rc == 0:
        print('ok %d - broker exits 0 on SIGTERM' % (len(table) + 1))
    else:
        failed += 1
        print('not ok %d - broker exits 0 on SIGTERM\n#   exit status %s' % (len(table) + 1, rc))
    return failed


def defects_caught(binary):
    print('1..%d' % len(CATCHES))
    byname = dict(checks.ALL)

    def run_defect(defect):
        def body(port):
            return [(c, run_one(port, c, byname[c], i)) for i, c in enumerate(CATCHES[defect])]
        return with_broker(binary, [defect], body)[0]
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as ex:
        futs = {d: ex.submit(run_defect, d) for d in CATCHES}
        failed = 0
        for i, d in enumerate(CATCHES, 1):
            res = futs[d].result()
            caught = [(c, err) for c, (err, _) in res if err]
            if caught:
                print('ok %d - --defect %s caught by %s\n#   %s' % (i, d, caught[0][0], caught[0][1]))
            else:
                failed += 1
                print('not ok %d - --defect %s not caught by %s' % (i, d, ', '.join(CATCHES[d])))
    return failed


def main():
    binary = sys.argv[1]
    if len(sys.argv) > 2 and sys.argv[2] == '--defects':
        return 1 if defects_caught(binary) else 0
    return 1 if all_pass(binary) else 0


if __name__ == '__main__':
    sys.exit(main())
