# Gedeelde testinvoer: de feiten van een melding over een volwassen slachtoffer in Almelo
# zonder enig signaal (alles nee), zoals routing ze aan het beleid geeft
# (services/routing/facts.py): geen identiteit, geen vrije tekst.
package kmt.fixtures_test

base := {
	"melding_id": "00000000-0000-4000-8000-000000000001",
	"received_at": "2026-03-02T09:30:00Z",
	"reporter": {"type": "gemeente", "partner_id": null},
	"municipality": "almelo",
	"exploitation_forms": ["seksuele_uitbuiting"],
	"case": {"wgs_designated": false},
	"victim": {"age": 24, "consent": null},
	"suspects": [{"role": "dader", "relation_to_victim": "partner"}],
	"signals": {
		"acute_danger": false,
		"safety_risk": false,
		"domestic_violence": false,
		"minors_in_household": false,
		"undermining_indicators": [],
	},
	"provenance": [],
	"present": base_present,
}

base_present := [
	"case",
	"case.wgs_designated",
	"exploitation_forms",
	"location",
	"location.description",
	"melding_id",
	"municipality",
	"received_at",
	"reporter",
	"reporter.organisation",
	"reporter.type",
	"signals",
	"signals.acute_danger",
	"signals.domestic_violence",
	"signals.minors_in_household",
	"signals.narrative",
	"signals.safety_risk",
	"suspects",
	"victim",
	"victim.address",
	"victim.birth_date",
	"victim.bsn",
	"victim.gender",
	"victim.name",
	"victim.nationality",
	"victim.phone",
]

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

# Ook aanwezig in de melding (de waarde ziet het beleid niet).
present(paths) := {"present": sort(array.concat(base_present, paths))}

minor_victim := {"victim": {"age": 16}}

indicator := {"signals": {"undermining_indicators": ["crimineel_netwerk"]}}

safety_risk := object.union({"signals": {"safety_risk": true}}, present(["signals.risk_summary"]))

police_suspects := {"provenance": [{"source": "politie", "regime": "WPG", "fields": ["suspects"], "onward_consent": false}]}

provenance(regime, paths, consent) := {"provenance": [{
	"source": "politie",
	"regime": regime,
	"fields": paths,
	"onward_consent": consent,
}]}
