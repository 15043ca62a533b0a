# mosquitto 2.0.11 (Debian), as ci/brokers/mosquitto starts it. Format: docs/brokers.md.
name: mosquitto
versions: 5, 3.1.1
username:
password:
caps: anonymous; in-memory sessions (persistence false); max_queued_messages 1000; no Session Expiry cap
baseline: ci/baselines/mosquitto.yaml
