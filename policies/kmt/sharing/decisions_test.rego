package kmt.sharing_test

import data.kmt.fixtures_test as fx
import data.kmt.sharing

all_recipients := ["riec", "gemeente_veiligheid", "veilig_thuis"]

ask_all(patch) := answers if {
	answers := sharing.decisions with input as {
		"melding": fx.melding(patch),
		"recipients": all_recipients,
		"context": {"requested_at": "2026-03-02T10:00:00Z"},
	}
}

test_decisions_equal_the_decision_per_recipient if {
	patch := object.union_n([fx.minor_victim, fx.indicator, fx.safety_risk, fx.police_suspects])
	answers := ask_all(patch)
	count(answers) == 3
	every recipient in all_recipients {
		answers[recipient] == fx.decide(recipient, patch)
		answers[recipient].recipient == recipient
	}
}

test_decisions_of_a_plain_melding_refuse_alike if {
	answers := ask_all({})
	every recipient in all_recipients {
		answers[recipient] == fx.decide(recipient, {})
	}
}

test_decisions_name_only_the_recipients_asked if {
	answers := sharing.decisions with input as {
		"melding": fx.melding(fx.indicator),
		"recipients": ["riec"],
		"context": {"requested_at": "2026-03-02T10:00:00Z"},
	}
	object.keys(answers) == {"riec"}
}

test_decisions_for_an_unknown_recipient_share_nothing if {
	answers := sharing.decisions with input as {
		"melding": fx.melding(fx.indicator),
		"recipients": ["politie"],
		"context": {"requested_at": "2026-03-02T10:00:00Z"},
	}
	answers.politie.allow == false
	answers.politie.recipient == "politie"
}

test_decisions_without_recipients_are_empty if {
	answers := sharing.decisions with input as {"melding": fx.melding({}), "context": {"requested_at": "2026-03-02T10:00:00Z"}}
	answers == {}
}
