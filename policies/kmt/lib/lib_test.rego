package kmt.lib_test

import data.kmt.fixtures_test as fx
import data.kmt.lib

age_of(patch) := age if {
	age := lib.age with input as fx.request("veilig_thuis", patch)
}

minor_with(patch) if {
	lib.minor with input as fx.request("veilig_thuis", patch)
}

unknown_with(patch) if {
	lib.age_unknown with input as fx.request("veilig_thuis", patch)
}

# De leeftijd zelf (verjaardag op de meldingsdatum, 29 februari, geboortedatum boven
# opgegeven leeftijd) rekent routing uit: tests/test_facts.py.
test_eighteen_is_adult if {
	age_of({"victim": {"age": 18}}) == 18
	not minor_with({"victim": {"age": 18}})
	not minor_with({"victim": {"age": 40}})
}

test_seventeen_is_minor if {
	age_of({"victim": {"age": 17}}) == 17
	minor_with({"victim": {"age": 17}})
	minor_with({"victim": {"age": 0}})
}

test_age_unknown_without_age if {
	unknown_with({"victim": {"age": null}})
	unknown_with({"victim": {"age": "16"}})
	not unknown_with({})
	not minor_with({"victim": {"age": null}})
}

test_provenance_path_covers_everything_under_it if {
	lib.covers("victim", "victim.name")
	lib.covers("victim.name", "victim.name")
	lib.covers("location.address", "location")
	not lib.covers("victim.n", "victim.name")
	not lib.covers("victim.name", "victim.nationality")
	not lib.covers("signals", "suspects")
}

test_parent_as_suspect_defers_notification if {
	every relation in data.kmt.config.parent_relations {
		lib.notify_deferred with input as fx.request("riec", {"suspects": [{"role": "dader", "relation_to_victim": relation}]})
	}
	lib.notify_deferred with input as fx.request("riec", {"suspects": [
		{"role": "onbekend", "relation_to_victim": null},
		{"role": "dader", "relation_to_victim": "stiefmoeder"},
	]})
	every relation in ["werkgever", "partner", "overig", null] {
		not lib.notify_deferred with input as fx.request("riec", {"suspects": [{"role": "dader", "relation_to_victim": relation}]})
	}
	not lib.notify_deferred with input as fx.request("riec", {"suspects": []})
}

test_police_involvement_defers_notification if {
	lib.notify_deferred with input as fx.request("riec", {"reporter": {"type": "politie"}})
	lib.notify_deferred with input as fx.request("riec", fx.provenance("WPG", ["suspects"], true))
	lib.notify_deferred with input as fx.request("riec", {"provenance": [{
		"source": "politie",
		"regime": "AVG",
		"fields": ["location"],
		"onward_consent": true,
	}]})
	not lib.notify_deferred with input as fx.request("riec", {})
}

withheld_with(field, patch) if {
	lib.withheld(field) with input as fx.request("riec", patch)
}

# Zonder BSN: het pseudoniem komt uit naam en geboortedatum.
without_bsn := {"present": [path | some path in fx.base_present; path != "victim.bsn"]}

test_pseudonym_follows_the_bsn_it_is_computed_from if {
	every regime in ["WPG", "WGS"] {
		withheld_with("victim.pseudonym", fx.provenance(regime, ["victim.bsn"], false))
		not withheld_with("victim.pseudonym", fx.provenance(regime, ["victim.bsn"], true))
	}

	# Met een BSN komt het pseudoniem niet uit de naam.
	not withheld_with("victim.pseudonym", fx.provenance("WPG", ["victim.name"], false))
	not withheld_with("victim.pseudonym", fx.provenance("AVG", ["victim.bsn"], false))
}

test_pseudonym_follows_name_and_birth_date_without_bsn if {
	every path in ["victim.name", "victim.birth_date"] {
		withheld_with("victim.pseudonym", object.union(without_bsn, fx.provenance("WPG", [path], false)))
		not withheld_with("victim.pseudonym", object.union(without_bsn, fx.provenance("WPG", [path], true)))
	}
	not withheld_with("victim.pseudonym", object.union(without_bsn, fx.provenance("WPG", ["victim.bsn"], false)))
}

test_age_follows_the_birth_date_it_is_computed_from if {
	withheld_with("victim.age", fx.provenance("WGS", ["victim.birth_date"], false))
	not withheld_with("victim.age", fx.provenance("WGS", ["victim.birth_date"], true))
	not withheld_with("victim.age", fx.provenance("WPG", ["victim.name"], false))

	# Zonder geboortedatum is de leeftijd de opgegeven leeftijd, niet afgeleid.
	no_birth_date := {"present": [path | some path in fx.base_present; path != "victim.birth_date"]}
	not withheld_with("victim.age", object.union(no_birth_date, fx.provenance("WPG", ["victim.birth_date"], false)))
}
