"""Local infrastructure for `kmt up` and the test session: Kafka (KRaft) and OPA, started
from what `make provision` put under `.cache/`. Production runs the images of
docker-compose.yml instead."""
