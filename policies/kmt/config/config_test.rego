# Beleidsgegevens die later bij elke melding zouden mislukken, worden al bij het laden
# geweigerd (services/policy/engine.py check_policy_data doet hetzelfde bij het bouwen van de
# bundel): per ontvanger een leesbare bewaartermijn, een doel en een grondslag.
package kmt.config_test

import data.kmt.config

recipients := {"riec", "gemeente_veiligheid", "veilig_thuis"}

# ISO 8601-duur zoals services/common/durations.py hem leest: PnYnMnWnDTnHnMnS, hele getallen,
# minstens één getal, en na T minstens één.
duration_pattern := `^P(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(\d+H)?(\d+M)?(\d+S)?)?$`

duration(value) if {
	is_string(value)
	regex.match(duration_pattern, value)
	regex.match(`\d`, value)
	not endswith(value, "T")
}

test_every_recipient_is_configured if {
	{name | some name, _ in config.recipients} == recipients
}

test_every_retention_is_a_readable_duration if {
	every _, recipient in config.recipients {
		duration(recipient.retention)
	}
}

test_every_recipient_has_a_purpose_and_a_legal_basis if {
	every _, recipient in config.recipients {
		is_string(recipient.purpose)
		trim_space(recipient.purpose) != ""
		count(recipient.legal_basis) > 0
		every basis in recipient.legal_basis {
			is_string(basis)
		}
	}
}

test_the_duration_check_refuses_what_sharing_cannot_read if {
	every bad in ["", "P", "PT", "2Y", "P2J", "P1.5Y", "P1YT", "p2y", "P2Y ", 2] {
		not duration(bad)
	}
	every good in ["P2Y", "P1Y6M", "PT36H", "P2W", "P1Y1M1DT1H1M1S"] {
		duration(good)
	}
}

test_every_configured_number_and_list_has_its_type if {
	is_number(config.adult_age)
	config.adult_age > 0
	every regime in config.restricted_regimes {
		regime in {"WPG", "WGS"}
	}
	every field in config.police_free_fields {
		is_string(field)
	}
}
