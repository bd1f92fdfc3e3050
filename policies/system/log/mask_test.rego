package system.log_test

import data.system.log

test_personal_fields_are_masked_in_decision_logs if {
	masked := log.mask with input as {"input": {"melding": {"victim": {"name": "x"}}}}
	every path in ["/input/melding/victim", "/input/melding/suspects", "/input/melding/location", "/input/melding/signals/narrative", "/input/melding/signals/risk_summary", "/input/melding/reporter/organisation"] {
		path in masked
	}
	not "/input/melding/municipality" in masked
}
