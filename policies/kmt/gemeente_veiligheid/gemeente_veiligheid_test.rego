package kmt.gemeente_veiligheid_test

import data.kmt.fixtures_test as fx

test_safety_risk_informs_only_that_municipality if {
	decision := fx.decide("gemeente_veiligheid", object.union(fx.safety_risk, {"municipality": "hengelo"}))
	decision.allow
	decision.municipality == "hengelo"
	contains(decision.reasons[0].text, "Hengelo")
	"signals.risk_summary" in decision.fields
	"location.description" in decision.fields
	every field in ["suspects", "victim.name", "victim.pseudonym", "victim.gender", "signals.narrative"] {
		not field in decision.fields
	}
	decision.obligations == ["retention:P1Y"]
	"AVG art. 6 lid 1 sub e jo. Gemeentewet art. 172 (verify)" in decision.legal_basis
}

test_each_of_the_fourteen_municipalities if {
	every municipality, name in data.kmt.config.municipalities {
		decision := fx.decide("gemeente_veiligheid", object.union(fx.safety_risk, {"municipality": municipality}))
		decision.allow
		decision.municipality == municipality
		contains(decision.reasons[0].text, name)
	}
	count(data.kmt.config.municipalities) == 14
}

test_no_safety_risk_denies if {
	decision := fx.decide("gemeente_veiligheid", {})
	not decision.allow
	decision.municipality == "almelo"
	fx.rules(decision) == {"gemeente.geen_veiligheidsrisico"}
}

test_outside_twente_denies if {
	decision := fx.decide("gemeente_veiligheid", object.union(fx.safety_risk, {"municipality": "buiten_twente"}))
	not decision.allow
	fx.rules(decision) == {"gemeente.buiten_twente"}
}

test_unknown_municipality_denies if {
	decision := fx.decide("gemeente_veiligheid", object.union(fx.safety_risk, {"municipality": "onbekend"}))
	not decision.allow
	fx.rules(decision) == {"gemeente.gemeente_onbekend"}
}

test_acute_danger_goes_to_police_not_municipality if {
	decision := fx.decide("gemeente_veiligheid", object.union(fx.safety_risk, {"signals": {"acute_danger": true}}))
	not decision.allow
	fx.rules(decision) == {"gemeente.acuut_gevaar"}
	decision.alerts == ["acuut gevaar: politie/112 eerst"]
}

test_all_failing_conditions_are_explained if {
	decision := fx.decide("gemeente_veiligheid", {"municipality": "onbekend", "signals": {"acute_danger": true}})
	fx.rules(decision) == {"gemeente.geen_veiligheidsrisico", "gemeente.gemeente_onbekend", "gemeente.acuut_gevaar"}
}
