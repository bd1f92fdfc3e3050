# METADATA
# title: Veilig Thuis Twente
# description: >-
#   Volgens de Meldcode huiselijk geweld en kindermishandeling: Veilig Thuis wordt
#   geïnformeerd bij een minderjarig slachtoffer, huiselijk geweld of minderjarigen in het
#   huishouden; bij onbekende leeftijd alleen na bevestiging door een medewerker van KMT.
package kmt.veilig_thuis

import data.kmt.lib

conf := lib.cfg.recipients.veilig_thuis

# Niets wordt gedeeld tenzij een regel het toestaat.
default allow := false

# METADATA
# title: Minderjarig slachtoffer
# custom:
#   rule: veilig_thuis.minderjarig
#   effect: toestaan
#   legal:
#     - Wmo 2015 art. 5.2.6
#     - AVG art. 6 lid 1 sub e
#     - AVG art. 9 lid 2 sub g (verify)
allow if lib.minor

# METADATA
# title: Huiselijk geweld
# custom:
#   rule: veilig_thuis.huiselijk_geweld
#   effect: toestaan
#   legal:
#     - Wmo 2015 art. 5.2.6
#     - AVG art. 6 lid 1 sub e
#     - AVG art. 9 lid 2 sub g (verify)
allow if lib.signal("domestic_violence")

# METADATA
# title: Minderjarigen in het huishouden
# custom:
#   rule: veilig_thuis.minderjarigen_in_huishouden
#   effect: toestaan
#   legal:
#     - Wmo 2015 art. 5.2.6
#     - AVG art. 6 lid 1 sub e
#     - AVG art. 9 lid 2 sub g (verify)
allow if lib.signal("minors_in_household")

# METADATA
# title: Leeftijd onbekend, een medewerker beslist
# description: >-
#   Kinderveiligheid weegt zwaarder dan een onbevestigde verstrekking, maar er gaat niets
#   weg voordat een medewerker van KMT heeft bevestigd (review:human).
# custom:
#   rule: veilig_thuis.leeftijd_onbekend
#   effect: toestaan
#   legal:
#     - Wmo 2015 art. 5.2.6
#     - AVG art. 6 lid 1 sub e
allow if lib.age_unknown

reasons contains {
	"rule": "veilig_thuis.minderjarig",
	"text": "Het slachtoffer is minderjarig op de meldingsdatum: Veilig Thuis wordt geïnformeerd volgens de Meldcode huiselijk geweld en kindermishandeling (meldrecht zonder toestemming, Wmo 2015 art. 5.2.6; AVG art. 6 lid 1 sub e).",
} if lib.minor

reasons contains {
	"rule": "veilig_thuis.huiselijk_geweld",
	"text": "Signalen van huiselijk geweld: Veilig Thuis wordt geïnformeerd volgens de Meldcode huiselijk geweld en kindermishandeling (meldrecht zonder toestemming, Wmo 2015 art. 5.2.6; AVG art. 6 lid 1 sub e).",
} if lib.signal("domestic_violence")

reasons contains {
	"rule": "veilig_thuis.minderjarigen_in_huishouden",
	"text": "Er zijn minderjarigen in het huishouden: Veilig Thuis wordt geïnformeerd volgens de Meldcode huiselijk geweld en kindermishandeling (meldrecht zonder toestemming, Wmo 2015 art. 5.2.6; AVG art. 6 lid 1 sub e).",
} if lib.signal("minors_in_household")

reasons contains {
	"rule": "veilig_thuis.leeftijd_onbekend",
	"text": "De leeftijd van het slachtoffer is onbekend: Veilig Thuis mag worden geïnformeerd, maar pas nadat een medewerker van KMT de verstrekking heeft bevestigd (review:human; Wmo 2015 art. 5.2.6).",
} if lib.age_unknown

# METADATA
# title: Minderjarige in acuut gevaar, Veilig Thuis direct
# custom:
#   rule: veilig_thuis.acuut_gevaar_minderjarige
#   effect: toestaan
#   legal:
#     - AVG art. 6 lid 1 sub d
#     - Wmo 2015 art. 5.2.6
reasons contains {
	"rule": "veilig_thuis.acuut_gevaar_minderjarige",
	"text": "Minderjarige in acuut gevaar: eerst politie/112 en Veilig Thuis direct informeren (vitaal belang, AVG art. 6 lid 1 sub d; Wmo 2015 art. 5.2.6).",
} if {
	lib.minor
	lib.acute_danger
}

# METADATA
# title: Volwassene zonder huiselijk geweld en zonder minderjarigen, geen Veilig Thuis
# custom:
#   rule: veilig_thuis.geen_meldcode_grond
#   effect: weigeren
#   legal:
#     - AVG art. 5 lid 1 sub b
#     - Meldcode huiselijk geweld en kindermishandeling
reasons contains {
	"rule": "veilig_thuis.geen_meldcode_grond",
	"text": "Volwassen slachtoffer, geen signalen van huiselijk geweld en geen minderjarigen in het huishouden: Veilig Thuis wordt niet geïnformeerd (Meldcode huiselijk geweld en kindermishandeling; doelbinding, AVG art. 5 lid 1 sub b).",
} if not allow

# METADATA
# title: Volwassene in acuut gevaar, politie eerst
# custom:
#   rule: veilig_thuis.acuut_gevaar_volwassene
#   effect: weigeren
#   legal:
#     - Aanpak Mensenhandel Twente, meldroute §6.1
reasons contains {
	"rule": "veilig_thuis.acuut_gevaar_volwassene",
	"text": "Acuut gevaar bij een volwassen slachtoffer: eerst politie/112; acuut gevaar alleen is geen grond om Veilig Thuis te informeren.",
} if {
	not allow
	lib.acute_danger
}

# Gezondheidsgegevens gaan alleen mee als ze in de melding staan; het beleid ziet alleen dat
# ze er zijn (victim.health_information in present), niet wat er staat.
health_fields := [conf.health_field] if conf.health_field in lib.present

else := []

base_fields := array.concat(conf.fields, health_fields)

shared_fields := lib.fields(base_fields)

health_shared if conf.health_field in shared_fields

health_basis := conf.legal_basis_health if health_shared

else := []

acute_basis := conf.legal_basis_acute if lib.acute_danger

else := []

health_obligation := ["minimise:health"] if health_shared

else := []

review_obligation := ["review:human"] if lib.age_unknown

else := []

alerts contains lib.cfg.alerts.acute_danger_minor if {
	lib.minor
	lib.acute_danger
}

grant := {
	"purpose": conf.purpose,
	"legal_basis": array.concat(array.concat(conf.legal_basis, health_basis), acute_basis),
	"fields": shared_fields,
	"base_fields": base_fields,
	"obligations": array.concat(
		array.concat(health_obligation, review_obligation),
		array.concat(lib.notify_obligation, [lib.retention("veilig_thuis")]),
	),
}

outcome := lib.outcome(allow, grant, reasons)
