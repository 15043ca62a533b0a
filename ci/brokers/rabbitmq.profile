# RabbitMQ 3.10.8 with rabbitmq_mqtt (Debian), as ci/brokers/rabbitmq starts it. Format: docs/brokers.md.
name: rabbitmq
versions: 3.1.1
username:
password:
caps: anonymous as guest; persistent sessions are durable queues, mqtt.subscription_ttl 24 h (default); AMQP listener off
baseline: ci/baselines/rabbitmq.yaml
