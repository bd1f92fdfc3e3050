# METADATA
# title: Veiligheidsmedewerker van de betrokken gemeente
# description: >-
#   Bij een veiligheidsrisico wordt de medewerker veiligheid van de betreffende gemeente
#   geïnformeerd, tenzij het om acute onveiligheid gaat; nooit een van de andere 13 gemeenten.
package kmt.gemeente_veiligheid

import data.kmt.lib

conf := lib.cfg.recipients.gemeente_veiligheid

municipality := object.get(lib.melding, "municipality", null)

twente_municipality if lib.cfg.municipalities[municipality]

# Niets wordt gedeeld tenzij een regel het toestaat.
default allow := false

# METADATA
# title: Veiligheidsrisico in een Twentse gemeente, geen acuut gevaar
# custom:
#   rule: gemeente.veiligheidsrisico
#   effect: toestaan
#   legal:
#     - AVG art. 6 lid 1 sub e jo. Gemeentewet art. 172 (verify)
#     - UAVG art. 33
allow if {
	lib.signal("safety_risk")
	twente_municipality
	not lib.acute_danger
}

reasons contains {
	"rule": "gemeente.veiligheidsrisico",
	"text": sprintf(
		"Veiligheidsrisico in de gemeente %s: alleen de veiligheidsmedewerker van deze gemeente wordt geïnformeerd, met de risicosamenvatting en de plaats van uitbuiting, zonder identiteit van slachtoffer of verdachten (openbare orde en veiligheid; AVG art. 6 lid 1 sub e jo. Gemeentewet art. 172 (verify); UAVG art. 33).",
		[lib.cfg.municipalities[municipality]],
	),
} if allow

# METADATA
# title: Geen veiligheidsrisico, geen veiligheidsmedewerker
# custom:
#   rule: gemeente.geen_veiligheidsrisico
#   effect: weigeren
#   legal:
#     - AVG art. 5 lid 1 sub b
reasons contains {
	"rule": "gemeente.geen_veiligheidsrisico",
	"text": "Geen veiligheidsrisico gemeld: de veiligheidsmedewerker van de gemeente wordt niet geïnformeerd (doelbinding, AVG art. 5 lid 1 sub b).",
} if not lib.signal("safety_risk")

# METADATA
# title: Gemeente buiten Twente
# custom:
#   rule: gemeente.buiten_twente
#   effect: weigeren
#   legal:
#     - AVG art. 5 lid 1 sub b
reasons contains {
	"rule": "gemeente.buiten_twente",
	"text": "De casus speelt buiten Twente: KMT informeert geen veiligheidsmedewerker buiten de 14 Twentse gemeenten (doelbinding, AVG art. 5 lid 1 sub b).",
} if municipality == "buiten_twente"

# METADATA
# title: Gemeente onbekend
# custom:
#   rule: gemeente.gemeente_onbekend
#   effect: weigeren
#   legal:
#     - AVG art. 5 lid 1 sub b
reasons contains {
	"rule": "gemeente.gemeente_onbekend",
	"text": "De betrokken gemeente is onbekend: er is geen veiligheidsmedewerker die geïnformeerd mag worden; alleen de medewerker van de betreffende gemeente mag het weten (doelbinding, AVG art. 5 lid 1 sub b).",
} if {
	not twente_municipality
	municipality != "buiten_twente"
}

# METADATA
# title: Acuut gevaar, politie eerst
# description: Bij acute onveiligheid gaat de melding niet via deze route naar de gemeente.
# custom:
#   rule: gemeente.acuut_gevaar
#   effect: weigeren
#   legal:
#     - Aanpak Mensenhandel Twente, meldroute §6.1
reasons contains {
	"rule": "gemeente.acuut_gevaar",
	"text": "Acuut gevaar: eerst politie/112; de veiligheidsmedewerker van de gemeente wordt niet via deze route geïnformeerd (meldroute Aanpak Mensenhandel Twente §6.1).",
} if lib.acute_danger

grant := {
	"purpose": conf.purpose,
	"legal_basis": conf.legal_basis,
	"fields": lib.fields(conf.fields),
	"base_fields": conf.fields,
	"obligations": array.concat(lib.notify_obligation, [lib.retention("gemeente_veiligheid")]),
}

outcome := lib.outcome(allow, grant, reasons)
