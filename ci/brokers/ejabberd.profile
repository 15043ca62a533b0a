# ejabberd 23.01 mod_mqtt (Debian), as ci/brokers/ejabberd starts it. Format: docs/brokers.md.
name: ejabberd
versions: 5, 3.1.1
# Anonymous login still wants a user name and a non-empty password.
username: bench
password: x
caps: mod_mqtt session_expiry 5 min (caps MQTT 5 Session Expiry, announced in CONNACK; lifetime of 3.1.1 persistent sessions)
baseline: ci/baselines/ejabberd.yaml
