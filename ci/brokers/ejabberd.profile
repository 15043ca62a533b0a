# ejabberd 23.01 mod_mqtt (Debian), as ci/brokers/ejabberd starts it. Format: docs/brokers.md.
name: ejabberd
versions: 5, 3.1.1
# Anonymous login still wants a user name and a non-empty password.
username: bench
password: x
# Another name is another (anonymous) user: the cross-user scenario runs.
username2: bench2
password2: x
baseline: ci/baselines/ejabberd.yaml
start: ci/brokers/ejabberd start {dir} {port}
stop: ci/brokers/ejabberd stop {dir}
start_timeout: 30
# mod_mqtt session_expiry 5 min: caps MQTT 5 Session Expiry (announced in
# CONNACK, so the probe sees it too) and the lifetime of 3.1.1 sessions.
max_session_expiry: 300
# Sessions across a restart of ejabberd have not been examined yet.
restart: no
caps: mod_mqtt session_expiry 5 min (caps MQTT 5 Session Expiry, announced in CONNACK; lifetime of 3.1.1 persistent sessions)
