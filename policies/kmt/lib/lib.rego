# METADATA
# title: Gedeelde hulpregels voor alle ontvangers
# description: >-
#   Leeftijd op de meldingsdatum, herkomst (WPG/WGS), velden, verplichtingen, signaleringen
#   en het opbouwen van een besluit. Beleidsgegevens staan in data.kmt.config, niet in code.
#   input.melding bevat alleen feiten over de melding (services/routing/facts.py), geen
#   identiteit en geen vrije tekst.
package kmt.lib

cfg := data.kmt.config

melding := object.get(input, "melding", {})

victim := object.get(melding, "victim", {})

signals := object.get(melding, "signals", {})

provenance := object.get(melding, "provenance", [])

suspects := object.get(melding, "suspects", [])

signal(name) if signals[name] == true

acute_danger if signal("acute_danger")

# Paden die in de melding zijn ingevuld; het beleid ziet welke velden er zijn, niet wat
# erin staat.
present := object.get(melding, "present", [])

# Leeftijd in hele jaren op de Nederlandse datum (Europe/Amsterdam) van received_at, niet
# de UTC-datum. Routing rekent haar uit de geboortedatum uit (age_on in
# services/common/facts.py): wie op die dag 18 wordt, is volwassen;
# 29 februari telt in een niet-schrikkeljaar pas op 1 maart. Zonder geboortedatum geldt de
# opgegeven leeftijd.
age := victim.age if is_number(victim.age)

# Minderjarig: jonger dan data.kmt.config.adult_age op de meldingsdatum.
minor if age < cfg.adult_age

age_known if is_number(age)

age_unknown if not age_known

# Paden die onder een WPG- of WGS-herkomst vallen zonder schriftelijke toestemming voor
# verdere verstrekking.
restricted_paths contains path if {
	some entry in provenance
	entry.regime in cfg.restricted_regimes
	object.get(entry, "onward_consent", false) != true
	some path in entry.fields
}

# Een pad dekt alles eronder (victim dekt victim.name); een veld dat een beperkt pad bevat,
# gaat als geheel niet mee.
covers(path, field) if path == field

covers(path, field) if startswith(field, concat("", [path, "."]))

covers(path, field) if startswith(path, concat("", [field, "."]))

restricted(field) if {
	some path in restricted_paths
	covers(path, field)
}

# Een melding van de politie is politiegegevens (LEGAL.md regel 10): intake laat alleen een
# als politie geregistreerde partner melden als reporter.type politie, en die alleen zo.
police_melding if melding.reporter.type == "politie"

# Wat een herkomstvermelding uitdrukkelijk vrijgeeft: AVG, of WPG/WGS met toestemming voor
# verdere verstrekking. Het vermelde pad moet het hele veld dekken.
released(field) if {
	some entry in provenance
	not restricted_entry(entry)
	some path in entry.fields
	within(field, path)
}

restricted_entry(entry) if {
	entry.regime in cfg.restricted_regimes
	object.get(entry, "onward_consent", false) != true
}

within(field, path) if field == path

within(field, path) if startswith(field, concat("", [path, "."]))

# Een berekend veld (pseudoniem, leeftijd uit de geboortedatum) volgt zijn bronnen.
computed(field) if count(object.get(derived_sources, field, [])) > 0

# In een melding van de politie geldt elk veld als WPG zonder toestemming, behalve wat geen
# politiegegeven is (data.kmt.config.police_free_fields) en wat een herkomst vrijgeeft.
restricted(field) if {
	police_melding
	not field in cfg.police_free_fields
	not computed(field)
	not released(field)
}

# Afgeleide velden en de velden waaruit ze worden berekend: het pseudoniem uit het BSN als dat
# er is, anders uit naam en geboortedatum (services/sharing/minimise.py _normalised_identity);
# de leeftijd uit de geboortedatum als die er is (services/common/facts.py victim_age).
derived_sources := {
	"victim.pseudonym": pseudonym_sources,
	"victim.age": age_sources,
}

pseudonym_sources := ["victim.bsn"] if {
	"victim.bsn" in present
} else := ["victim.name", "victim.birth_date"] if {
	"victim.name" in present
	"victim.birth_date" in present
} else := []

age_sources := ["victim.birth_date"] if "victim.birth_date" in present

else := []

# METADATA
# title: Politie- en WGS-gegevens gaan niet door
# description: >-
#   Een veld onder een WPG- of WGS-herkomst zonder onward_consent wordt voor geen enkele
#   ontvanger gedeeld, en evenmin wat eruit is afgeleid (pseudoniem, leeftijd); alleen
#   police_involved gaat mee.
# custom:
#   rule: algemeen.herkomst_wpg_wgs
#   effect: beperken
#   legal:
#     - Wpg art. 16-20
#     - Besluit politiegegevens art. 4:3
#     - WGS (Stb. 2024, 198)
withheld(field) if restricted(field)

# Afgeleide gegevens volgen hun bron: geen pseudoniem uit een achtergehouden BSN of naam en
# geboortedatum, geen leeftijd uit een achtergehouden geboortedatum.
withheld(field) if {
	some source in object.get(derived_sources, field, [])
	restricted(source)
}

withheld_fields(base) := [field | some field in base; withheld(field)]

fields(base) := array.concat(kept, ["police_involved"]) if {
	kept := [field | some field in base; not withheld(field)]
	police_involved_shared(base, kept)
} else := base

police_involved_shared(base, kept) if count(kept) < count(base)

police_involved_shared(_, _) if police_melding

# UAVG art. 41: de betrokkene wordt later geïnformeerd bij politiebetrokkenheid of als een
# ouder verdachte is.
police_involved_case if {
	some entry in provenance
	entry.source == "politie"
}

police_involved_case if {
	some entry in provenance
	entry.regime == "WPG"
}

police_involved_case if melding.reporter.type == "politie"

# relation_to_victim komt genormaliseerd binnen: een term uit een vaste woordenlijst in
# kleine letters, of "overig"; nooit vrije tekst.
parent_suspect if {
	some suspect in suspects
	suspect.relation_to_victim in cfg.parent_relations
}

notify_deferred if police_involved_case

notify_deferred if parent_suspect

notify_obligation := ["notify:deferred"] if notify_deferred

else := []

retention(recipient) := concat(":", ["retention", cfg.recipients[recipient].retention])

alerts contains cfg.alerts.acute_danger if acute_danger

# Opmerkingen die bij elke toestemming horen.
general_reasons(base) := [reason | some reason in ((police_reason | withheld_reason(base)) | deferred_reason)]

# METADATA
# title: Een melding van de politie is politiegegevens
# description: >-
#   Meldt de politie, dan geldt elk veld als WPG-gegeven zonder toestemming voor verdere
#   verstrekking, tenzij een herkomstvermelding anders zegt; alleen police_involved en wat
#   geen politiegegeven is (uitbuitingsvormen, gemeente) gaan mee.
# custom:
#   rule: algemeen.melding_politie
#   effect: beperken
#   legal:
#     - Wpg art. 16-20
#     - Besluit politiegegevens art. 4:3
police_reason contains {
	"rule": "algemeen.melding_politie",
	"text": "De melding komt van de politie: alle gegevens gelden als politiegegevens (WPG) zonder toestemming voor verdere verstrekking, tenzij een herkomstvermelding anders zegt (Wpg art. 16-20, Besluit politiegegevens art. 4:3). Alleen het feit dat de politie betrokken is (police_involved), de uitbuitingsvormen en de gemeente gaan mee.",
} if police_melding

withheld_reason(base) := {reason |
	withheld_list := withheld_fields(base)
	count(withheld_list) > 0
	reason := {
		"rule": "algemeen.herkomst_wpg_wgs",
		"text": sprintf(
			"Gegevens van de politie (WPG) of van een samenwerkingsverband (WGS) zonder schriftelijke toestemming voor verdere verstrekking gaan niet mee (Wpg art. 16-20, Besluit politiegegevens art. 4:3): %s. Alleen het feit dat de politie betrokken is (police_involved) wordt gedeeld.",
			[concat(", ", withheld_list)],
		),
	}
}

# METADATA
# title: Informeren van de betrokkene uitgesteld
# description: Bij politiebetrokkenheid of een ouder als verdachte (notify:deferred).
# custom:
#   rule: algemeen.informeren_uitgesteld
#   effect: aanvulling
#   legal:
#     - UAVG art. 41
#     - AVG art. 14 en 23
deferred_reason contains {
	"rule": "algemeen.informeren_uitgesteld",
	"text": "Het informeren van de betrokkene wordt uitgesteld wegens politiebetrokkenheid of een ouder als verdachte (UAVG art. 41).",
} if notify_deferred

# METADATA
# title: Toestemming is geen grondslag
# description: Vastgelegde toestemming van het slachtoffer verandert geen enkel besluit.
# custom:
#   rule: algemeen.toestemming
#   effect: aanvulling
#   legal:
#     - AVG overweging 43
consent_reasons := [reason |
	victim.consent == true
	reason := {
		"rule": "algemeen.toestemming",
		"text": "De toestemming van het slachtoffer is vastgelegd, maar is voor een overheidsorgaan geen grondslag (AVG overweging 43) en heeft op dit besluit geen invloed.",
	}
]

# Het besluit voor één ontvanger; bij weigeren blijven doel, grondslag, velden en
# verplichtingen leeg.
outcome(true, grant, reasons) := {
	"allow": true,
	"purpose": grant.purpose,
	"legal_basis": grant.legal_basis,
	"fields": grant.fields,
	"obligations": grant.obligations,
	"reasons": array.concat(
		array.concat(sort_reasons(reasons), general_reasons(grant.base_fields)),
		consent_reasons,
	),
}

outcome(false, _, reasons) := {
	"allow": false,
	"purpose": null,
	"legal_basis": [],
	"fields": [],
	"obligations": [],
	"reasons": array.concat(sort_reasons(reasons), consent_reasons),
}

sort_reasons(reasons) := [reason | some reason in reasons]
