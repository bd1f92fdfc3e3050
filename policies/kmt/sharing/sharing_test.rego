package kmt.sharing_test

import data.kmt.fixtures_test as fx

recipients := ["riec", "gemeente_veiligheid", "veilig_thuis"]

keys := {"recipient", "allow", "purpose", "legal_basis", "fields", "obligations", "reasons", "policy_revision", "municipality", "alerts"}

test_police_data_is_withheld_for_every_recipient if {
	patch := object.union_n([fx.minor_victim, fx.indicator, fx.safety_risk, fx.police_suspects])
	every recipient in recipients {
		decision := fx.decide(recipient, patch)
		decision.allow
		not "suspects" in decision.fields
	}
	riec := fx.decide("riec", patch)
	"police_involved" in riec.fields
	"notify:deferred" in riec.obligations
	"algemeen.herkomst_wpg_wgs" in fx.rules(riec)
	not "police_involved" in fx.decide("gemeente_veiligheid", patch).fields
}

test_onward_consent_lets_police_data_through if {
	decision := fx.decide("riec", object.union(fx.indicator, fx.provenance("WPG", ["suspects"], true)))
	"suspects" in decision.fields
	not "police_involved" in decision.fields
	not "algemeen.herkomst_wpg_wgs" in fx.rules(decision)
}

test_wgs_data_is_withheld_like_police_data if {
	decision := fx.decide("riec", object.union(fx.indicator, {"provenance": [{
		"source": "riec",
		"regime": "WGS",
		"fields": ["suspects"],
		"onward_consent": false,
	}]}))
	not "suspects" in decision.fields
	"police_involved" in decision.fields
}

test_avg_provenance_is_not_withheld if {
	decision := fx.decide("riec", object.union(fx.indicator, {"provenance": [{
		"source": "zorg",
		"regime": "AVG",
		"fields": ["suspects"],
		"onward_consent": false,
	}]}))
	"suspects" in decision.fields
	not "notify:deferred" in decision.obligations
}

test_provenance_prefix_covers_the_whole_victim if {
	patch := object.union(fx.minor_victim, fx.provenance("WPG", ["victim"], false))
	vt := fx.decide("veilig_thuis", patch)
	vt.allow
	every field in vt.fields {
		not startswith(field, "victim")
	}
	"police_involved" in vt.fields
	riec := fx.decide("riec", object.union(fx.indicator, fx.provenance("WPG", ["victim"], false)))
	not "victim.pseudonym" in riec.fields
}

test_provenance_on_a_sub_path_withholds_only_that if {
	decision := fx.decide("veilig_thuis", object.union(fx.minor_victim, fx.provenance("WPG", ["location.address"], false)))
	not "location.address" in decision.fields
	"location.description" in decision.fields
	"victim.address" in decision.fields
}

test_provenance_on_a_parent_withholds_every_child if {
	decision := fx.decide("gemeente_veiligheid", object.union(fx.safety_risk, fx.provenance("WGS", ["location"], false)))
	decision.allow
	every field in decision.fields {
		not startswith(field, "location")
	}
	"police_involved" in decision.fields
	"signals.risk_summary" in decision.fields
}

test_several_recipients_at_once if {
	patch := object.union_n([fx.minor_victim, fx.indicator, fx.safety_risk])
	every recipient in recipients {
		fx.decide(recipient, patch).allow
	}
}

test_decision_has_exactly_the_contract_keys if {
	every recipient in array.concat(recipients, ["politie"]) {
		decision := fx.decide(recipient, {})
		{key | some key, _ in decision} == keys
		count(decision.reasons) > 0
	}
}

test_unknown_recipient_is_denied_with_a_reason if {
	decision := fx.decide("politie", object.union(fx.minor_victim, fx.indicator))
	not decision.allow
	decision.recipient == "politie"
	fx.rules(decision) == {"algemeen.onbekende_ontvanger"}
	missing := data.kmt.sharing.decision with input as {"melding": fx.base}
	not missing.allow
	missing.recipient == null
}

test_without_melding_every_recipient_denies if {
	every recipient in recipients {
		decision := data.kmt.sharing.decision with input as {"recipient": recipient}
		not decision.allow
		fx.rules(decision) == {"algemeen.geen_melding"}
	}
}

test_context_does_not_change_the_outcome if {
	patch := object.union(fx.minor_victim, fx.indicator)
	every recipient in recipients {
		with_context := fx.decide(recipient, patch)
		without := data.kmt.sharing.decision with input as object.remove(fx.request(recipient, patch), ["context"])
		with_context == without
	}
}

test_policy_revision_from_bundle_metadata if {
	fx.decide("riec", {}).policy_revision == "unversioned"
	decision := data.kmt.sharing.decision with input as fx.request("riec", {})
		with data.kmt_meta.policy_revision as "sha256:0123456789abcdef"
	decision.policy_revision == "sha256:0123456789abcdef"
}

test_every_allow_has_purpose_basis_and_fields if {
	patch := object.union_n([fx.minor_victim, fx.indicator, fx.safety_risk])
	every recipient in recipients {
		decision := fx.decide(recipient, patch)
		is_string(decision.purpose)
		count(decision.legal_basis) > 0
		count(decision.fields) > 0
		count(decision.obligations) > 0
	}
}

test_derived_victim_data_follows_its_source if {
	restricted := object.union(fx.indicator, fx.provenance("WPG", ["victim.bsn", "victim.birth_date"], false))
	riec := fx.decide("riec", restricted)
	riec.allow
	not "victim.pseudonym" in riec.fields
	not "victim.age" in riec.fields
	"victim.gender" in riec.fields
	"police_involved" in riec.fields
	some reason in riec.reasons
	reason.rule == "algemeen.herkomst_wpg_wgs"
	contains(reason.text, "victim.pseudonym")

	consented := fx.decide("riec", object.union(fx.indicator, fx.provenance("WPG", ["victim.bsn", "victim.birth_date"], true)))
	"victim.pseudonym" in consented.fields
	"victim.age" in consented.fields
	not "police_involved" in consented.fields

	vt := fx.decide("veilig_thuis", object.union(fx.minor_victim, fx.provenance("WGS", ["victim.birth_date"], false)))
	vt.allow
	not "victim.birth_date" in vt.fields
	not "victim.age" in vt.fields
	"victim.bsn" in vt.fields
}

# Een melding van de politie (LEGAL.md regel 10): elk veld is politiegegeven, tenzij een
# herkomstvermelding anders zegt.
police := {"reporter": {"type": "politie", "partner_id": "politie-oost"}}

not_police_data := {"exploitation_forms", "municipality", "police_involved"}

test_a_police_melding_shares_only_what_is_not_police_data if {
	patch := object.union_n([fx.minor_victim, fx.indicator, fx.safety_risk, police])
	every recipient in recipients {
		decision := fx.decide(recipient, patch)
		decision.allow
		{field | some field in decision.fields} == not_police_data
		"algemeen.melding_politie" in fx.rules(decision)
		"notify:deferred" in decision.obligations
	}
}

test_a_police_melding_without_any_provenance_gives_no_pseudonym_or_age if {
	patch := object.union_n([fx.indicator, police, fx.present(["victim.pseudonym", "victim.age"])])
	riec := fx.decide("riec", patch)
	not "victim.pseudonym" in riec.fields
	not "victim.age" in riec.fields
	not "suspects" in riec.fields
}

test_provenance_can_say_a_police_field_may_go if {
	avg := {"source": "politie", "regime": "AVG", "fields": ["suspects"], "onward_consent": false}
	consented := {"source": "politie", "regime": "WPG", "fields": ["victim"], "onward_consent": true}
	riec := fx.decide("riec", object.union_n([fx.indicator, police, {"provenance": [avg, consented]}]))
	riec.allow
	"suspects" in riec.fields
	"victim.pseudonym" in riec.fields # computed from a released BSN
	"victim.gender" in riec.fields
	"police_involved" in riec.fields
	not "location.address" in riec.fields
}

test_a_release_must_cover_the_whole_field if {
	partial := {"source": "politie", "regime": "AVG", "fields": ["victim.bsn"], "onward_consent": false}
	vt := fx.decide("veilig_thuis", object.union_n([fx.minor_victim, police, {"provenance": [partial]}]))
	"victim.bsn" in vt.fields
	not "victim.name" in vt.fields
	not "victim.birth_date" in vt.fields
	not "location.description" in vt.fields
}

test_a_restricted_entry_still_withholds_inside_a_released_police_field if {
	released := {"source": "politie", "regime": "AVG", "fields": ["victim"], "onward_consent": false}
	restricted := {"source": "politie", "regime": "WPG", "fields": ["victim.bsn"], "onward_consent": false}
	vt := fx.decide("veilig_thuis", object.union_n([fx.minor_victim, police, {"provenance": [released, restricted]}]))
	"victim.name" in vt.fields
	not "victim.bsn" in vt.fields
}

test_a_non_police_reporter_is_not_police_data if {
	riec := fx.decide("riec", fx.indicator)
	"suspects" in riec.fields
	not "police_involved" in riec.fields
	not "algemeen.melding_politie" in fx.rules(riec)
}
