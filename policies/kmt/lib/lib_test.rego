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

test_eighteen_on_the_reference_date_is_adult if {
	age_of({"victim": {"birth_date": "2008-03-02"}}) == 18
	not minor_with({"victim": {"birth_date": "2008-03-02"}})
}

test_one_day_before_eighteen_is_minor if {
	age_of({"victim": {"birth_date": "2008-03-03"}}) == 17
	minor_with({"victim": {"birth_date": "2008-03-03"}})
}

test_age_counts_earlier_months_as_passed if {
	age_of({"victim": {"birth_date": "2008-02-10"}}) == 18
}

test_leap_day_birthday_counts_from_first_of_march if {
	age_of({"received_at": "2026-02-28T12:00:00Z", "victim": {"birth_date": "2008-02-29"}}) == 17
	age_of({"received_at": "2026-03-01T00:00:00Z", "victim": {"birth_date": "2008-02-29"}}) == 18
}

test_reference_date_is_received_at_not_requested_at if {
	decision := data.kmt.sharing.decision with input as object.union(
		fx.request("veilig_thuis", {"victim": {"birth_date": "2008-03-03"}}),
		{"context": {"requested_at": "2030-01-01T00:00:00Z"}},
	)
	decision.allow
}

test_victim_age_used_without_birth_date if {
	age_of({"victim": {"birth_date": null, "age": 16}}) == 16
	minor_with({"victim": {"birth_date": null, "age": 16}})
	not minor_with({"victim": {"birth_date": null, "age": 18}})
}

test_birth_date_wins_over_victim_age if {
	age_of({"victim": {"birth_date": "2001-05-14", "age": 12}}) == 24
}

test_age_unknown_without_birth_date_and_age if {
	unknown_with({"victim": {"birth_date": null, "age": null}})
	not unknown_with({})
}

test_unreadable_received_at_means_age_unknown if {
	unknown_with({"received_at": "gisteren"})
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
	lib.notify_deferred with input as fx.request("riec", {"suspects": [{"relation_to_victim": " Vader "}]})
	not lib.notify_deferred with input as fx.request("riec", {"suspects": [{"relation_to_victim": "werkgever"}]})
	not lib.notify_deferred with input as fx.request("riec", {"suspects": [{"relation_to_victim": null}]})
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
