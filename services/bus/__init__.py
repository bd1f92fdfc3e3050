"""The event bus: how services publish and consume on Kafka, and the bus as a security
boundary — who may talk to Kafka (TLS, SCRAM principals), what each principal may do there
(ACLs), and which service signed an event."""
