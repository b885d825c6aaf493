"""The operators' ``oms`` command: status, dead letters and re-drive, replay, order traces.

It reaches the services only as an operator would: Kafka (aiokafka), each service's database
(asyncpg) and their HTTP endpoints; it imports no service and not the runtime.
"""
