# aedes 1.2.0 (npm) on Node.js 20, as ci/brokers/aedes starts it. Format: docs/brokers.md.
name: aedes
versions: 3.1.1
username:
password:
baseline: ci/baselines/aedes.yaml
start: ci/brokers/aedes start {dir} {port}
stop: ci/brokers/aedes stop {dir}
# Default in-memory persistence: nothing outlives a restart.
persistent_sessions: no
caps: default in-memory persistence; no limits configured
