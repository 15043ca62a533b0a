# mosquitto 2.0.11 (Debian), as ci/brokers/mosquitto starts it. Format: docs/brokers.md.
name: mosquitto
versions: 5, 3.1.1
# allow_anonymous without a password file: any user name is let in, so two
# names make two users for the cross-user scenario (mosquitto ties no session
# to a user name).
username: mqspec1
password: x
username2: mqspec2
password2: x
baseline: ci/baselines/mosquitto.yaml
# The harness starts and stops it ({dir}: a private directory, {port}: a free
# port), and restarts it for restart_broker: persistence is on, in {dir}.
start: MOSQUITTO_PERSIST=1 ci/brokers/mosquitto start {dir} {port}
stop: ci/brokers/mosquitto stop {dir}
kill: kill -9 "$(cat {dir}/pid)"
# What ci/brokers/mosquitto configures: anonymous, persistence true (the
# database is written when mosquitto stops, so a SIGKILL loses what changed
# since), max_queued_messages 1000, queue_qos0_messages false (the default),
# no Session Expiry cap.
max_queued_messages: 1000
queue_qos0: no
persistent_sessions: yes
caps: anonymous; persistence true (saved when it stops); max_queued_messages 1000; no Session Expiry cap
