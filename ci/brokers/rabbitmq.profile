# RabbitMQ 3.10.8 with rabbitmq_mqtt (Debian), as ci/brokers/rabbitmq starts it. Format: docs/brokers.md.
name: rabbitmq
versions: 3.1.1
username:
password:
baseline: ci/baselines/rabbitmq.yaml
start: ci/brokers/rabbitmq start {dir} {port}
stop: ci/brokers/rabbitmq stop {dir}
# It takes about 10 s to listen.
start_timeout: 90
# Persistent sessions are durable queues, but a restart takes ~10 s and has
# not been examined yet.
restart: no
caps: anonymous as guest; persistent sessions are durable queues, mqtt.subscription_ttl 24 h (default); AMQP listener off
