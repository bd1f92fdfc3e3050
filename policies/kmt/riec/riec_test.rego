package kmt.riec_test

import data.kmt.fixtures_test as fx

test_every_undermining_indicator_informs_the_riec if {
	every indicator in ["crimineel_netwerk", "witwassen", "vastgoed", "bedrijfsstructuur", "andere_riec_partners_nodig"] {
		fx.decide("riec", {"signals": {"undermining_indicators": [indicator]}}).allow
	}
}

test_no_indicator_denies_and_explains if {
	decision := fx.decide("riec", {})
	not decision.allow
	decision.purpose == null
	decision.fields == []
	decision.legal_basis == []
	decision.obligations == []
	fx.rules(decision) == {"riec.geen_ondermijning"}
	contains(decision.reasons[0].text, "AVG art. 5 lid 1 sub b")
}

test_riec_gets_the_victim_only_as_pseudonym if {
	decision := fx.decide("riec", object.union(fx.indicator, fx.present(["victim.health_information"])))
	decision.allow
	every field in ["victim.pseudonym", "victim.gender", "victim.age", "victim.nationality", "suspects", "exploitation_forms", "municipality"] {
		field in decision.fields
	}
	every field in ["victim.name", "victim.birth_date", "victim.bsn", "victim.address", "victim.phone", "victim.health_information", "signals.narrative", "signals.risk_summary"] {
		not field in decision.fields
	}
	decision.obligations == ["pseudonymise:victim", "retention:P2Y"]
	decision.purpose == "aanpak ondermijning en daderaanpak (RIEC-convenant)"
	"AVG art. 10 jo. UAVG art. 33" in decision.legal_basis
	contains(decision.reasons[0].text, "crimineel netwerk")
}

test_wgs_case_cites_the_wgs if {
	designated := fx.decide("riec", object.union(fx.indicator, {"case": {"wgs_designated": true}}))
	"WGS (Stb. 2024, 198) en BGS (Stb. 2024, 380)" in designated.legal_basis
	plain := fx.decide("riec", fx.indicator)
	count(plain.legal_basis) == 3
}

test_consent_never_informs_the_riec if {
	decision := fx.decide("riec", {"victim": {"consent": true}})
	not decision.allow
	"algemeen.toestemming" in fx.rules(decision)
}

test_riec_is_not_named_a_municipality if {
	fx.decide("riec", fx.indicator).municipality == null
}
