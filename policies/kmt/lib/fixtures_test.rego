# Gedeelde testmelding: een volwassen slachtoffer in Almelo zonder enig signaal (alles nee).
package kmt.fixtures_test

base := {
	"melding_id": "00000000-0000-4000-8000-000000000001",
	"received_at": "2026-03-02T09:30:00Z",
	"reporter": {"type": "gemeente", "organisation": "Gemeente Almelo", "partner_id": null},
	"municipality": "almelo",
	"exploitation_forms": ["seksuele_uitbuiting"],
	"case": {"wgs_designated": false},
	"victim": {
		"name": "Test Persoon",
		"birth_date": "2001-05-14",
		"age": null,
		"gender": "vrouw",
		"nationality": "NL",
		"bsn": "111222333",
		"address": {"street": "Teststraat", "house_number": "1", "postal_code": "7600 AA", "city": "Almelo"},
		"phone": "+31600000000",
		"health_information": null,
		"consent": null,
	},
	"suspects": [{
		"name": "T. Verdachte",
		"birth_date": "1990-01-01",
		"role": "dader",
		"relation_to_victim": "partner",
		"description": "testomschrijving",
	}],
	"location": {"description": "vakantiepark", "address": null, "business_name": null, "kvk_number": null},
	"signals": {
		"narrative": "testverhaal",
		"acute_danger": false,
		"safety_risk": false,
		"domestic_violence": false,
		"minors_in_household": false,
		"risk_summary": "",
		"undermining_indicators": [],
	},
	"provenance": [],
}

melding(patch) := object.union(base, patch)

request(recipient, patch) := {
	"melding": melding(patch),
	"recipient": recipient,
	"context": {"requested_at": "2026-03-02T10:00:00Z"},
}

decide(recipient, patch) := decision if {
	decision := data.kmt.sharing.decision with input as request(recipient, patch)
}

rules(decision) := {reason.rule | some reason in decision.reasons}

minor_victim := {"victim": {"birth_date": "2010-01-20"}}

indicator := {"signals": {"undermining_indicators": ["crimineel_netwerk"]}}

safety_risk := {"signals": {"safety_risk": true, "risk_summary": "dreiging"}}

police_suspects := {"provenance": [{"source": "politie", "regime": "WPG", "fields": ["suspects"], "onward_consent": false}]}

provenance(regime, paths, consent) := {"provenance": [{
	"source": "politie",
	"regime": regime,
	"fields": paths,
	"onward_consent": consent,
}]}
