package kmt.veilig_thuis_test

import data.kmt.fixtures_test as fx

test_minor_victim_informs_veilig_thuis_with_identity if {
	decision := fx.decide("veilig_thuis", fx.minor_victim)
	decision.allow
	every field in ["victim.name", "victim.birth_date", "victim.bsn", "victim.address", "victim.phone", "suspects", "signals.narrative", "signals.risk_summary"] {
		field in decision.fields
	}
	not "victim.pseudonym" in decision.fields
	fx.rules(decision) == {"veilig_thuis.minderjarig"}
	decision.obligations == ["retention:P2Y"]
	decision.purpose == "veiligheidsbeoordeling huiselijk geweld / kindermishandeling"
}

test_domestic_violence_with_adult_informs_veilig_thuis if {
	decision := fx.decide("veilig_thuis", {"signals": {"domestic_violence": true}})
	decision.allow
	fx.rules(decision) == {"veilig_thuis.huiselijk_geweld"}
}

test_minors_in_household_inform_veilig_thuis if {
	decision := fx.decide("veilig_thuis", {"signals": {"minors_in_household": true}})
	decision.allow
	fx.rules(decision) == {"veilig_thuis.minderjarigen_in_huishouden"}
}

test_adult_without_grounds_denies if {
	decision := fx.decide("veilig_thuis", {})
	not decision.allow
	fx.rules(decision) == {"veilig_thuis.geen_meldcode_grond"}
	decision.alerts == []
}

test_unknown_age_needs_a_person_to_confirm if {
	decision := fx.decide("veilig_thuis", {"victim": {"age": null}})
	decision.allow
	"review:human" in decision.obligations
	fx.rules(decision) == {"veilig_thuis.leeftijd_onbekend"}
	known := fx.decide("veilig_thuis", fx.minor_victim)
	not "review:human" in known.obligations
}

test_acute_danger_for_a_minor_informs_veilig_thuis_at_once if {
	patch := object.union(fx.minor_victim, {"signals": {"acute_danger": true, "safety_risk": true}})
	decision := fx.decide("veilig_thuis", patch)
	decision.allow
	"AVG art. 6 lid 1 sub d" in decision.legal_basis
	"veilig_thuis.acuut_gevaar_minderjarige" in fx.rules(decision)
	decision.alerts == ["acuut gevaar: politie/112 eerst", "minderjarige in acuut gevaar: Veilig Thuis direct informeren"]
	not fx.decide("gemeente_veiligheid", patch).allow
}

test_acute_danger_for_an_adult_is_police_first if {
	decision := fx.decide("veilig_thuis", {"signals": {"acute_danger": true}})
	not decision.allow
	fx.rules(decision) == {"veilig_thuis.geen_meldcode_grond", "veilig_thuis.acuut_gevaar_volwassene"}
	decision.alerts == ["acuut gevaar: politie/112 eerst"]
}

test_health_information_goes_minimised if {
	decision := fx.decide("veilig_thuis", object.union(fx.minor_victim, fx.present(["victim.health_information"])))
	"victim.health_information" in decision.fields
	"minimise:health" in decision.obligations
	"AVG art. 9 lid 2 sub g (verify)" in decision.legal_basis
}

test_no_health_information_no_health_field if {
	decision := fx.decide("veilig_thuis", fx.minor_victim)
	not "victim.health_information" in decision.fields
	not "minimise:health" in decision.obligations
	count(decision.legal_basis) == 2
}

test_withheld_health_information_needs_no_minimising if {
	patch := object.union(
		object.union(fx.minor_victim, fx.present(["victim.health_information"])),
		fx.provenance("WPG", ["victim.health_information"], false),
	)
	decision := fx.decide("veilig_thuis", patch)
	not "victim.health_information" in decision.fields
	not "minimise:health" in decision.obligations
}

test_consent_does_not_change_a_veilig_thuis_decision if {
	with_consent := fx.decide("veilig_thuis", object.union(fx.minor_victim, {"victim": {"consent": true}}))
	without := fx.decide("veilig_thuis", object.union(fx.minor_victim, {"victim": {"consent": false}}))
	object.remove(with_consent, ["reasons"]) == object.remove(without, ["reasons"])
	"algemeen.toestemming" in fx.rules(with_consent)
	not "algemeen.toestemming" in fx.rules(without)
}
