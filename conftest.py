"""The fixtures of tests on the real Kafka broker and PostgreSQL (``stack``, ``env``), for
every test directory: services' integration tests beside their code, cross-service tests in
tests/."""

pytest_plugins = ["tests.support.world", "tests.support.smtp"]
