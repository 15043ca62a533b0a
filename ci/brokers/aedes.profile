# aedes 1.2.0 (npm) on Node.js 20, as ci/brokers/aedes starts it. Format: docs/brokers.md.
name: aedes
versions: 3.1.1
username:
password:
caps: default in-memory persistence; no limits configured
baseline: ci/baselines/aedes.yaml
