"""What operators and privacy officers see of the running system: traces (`tracing`),
Prometheus metrics (`metrics`), liveness and readiness (`health`), and the processing log
after Logboek Dataverwerkingen (`register`, `ldv`)."""
