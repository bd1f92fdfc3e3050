# METADATA
# title: RIEC Oost-Nederland
# description: >-
#   Het kenniscentrum informeert het RIEC wanneer de casus (ook) ondermijning betreft;
#   het slachtoffer gaat alleen gepseudonimiseerd mee.
package kmt.riec

import data.kmt.lib

conf := lib.cfg.recipients.riec

indicators := object.get(lib.signals, "undermining_indicators", [])

# Niets wordt gedeeld tenzij een regel het toestaat.
default allow := false

# METADATA
# title: RIEC informeren bij signalen van ondermijning
# description: >-
#   Elke ondermijningsindicator (crimineel netwerk, witwassen, vastgoed, bedrijfsstructuren,
#   andere RIEC-partners nodig) is grond om het RIEC te informeren.
# custom:
#   rule: riec.ondermijning
#   effect: toestaan
#   legal:
#     - AVG art. 6 lid 1 sub e
#     - AVG art. 10 jo. UAVG art. 33
#     - RIEC-convenant en privacyprotocol (AVG art. 26)
#     - WGS (Stb. 2024, 198) als de casus onder de WGS is aangewezen
allow if count(indicators) > 0

reasons contains {
	"rule": "riec.ondermijning",
	"text": sprintf(
		"Signalen van ondermijning (%s): het RIEC wordt geïnformeerd voor de aanpak van ondermijning en de daderaanpak (AVG art. 6 lid 1 sub e; AVG art. 10 jo. UAVG art. 33; RIEC-convenant en privacyprotocol). Het slachtoffer gaat alleen als pseudoniem mee; identiteits- en gezondheidsgegevens en het verhaal gaan niet mee.",
		[concat(", ", [replace(indicator, "_", " ") | some indicator in indicators])],
	),
} if allow

# METADATA
# title: Geen ondermijning, geen RIEC
# description: Zonder ondermijningsindicator wordt het RIEC niet geïnformeerd (doelbinding).
# custom:
#   rule: riec.geen_ondermijning
#   effect: weigeren
#   legal:
#     - AVG art. 5 lid 1 sub b
reasons contains {
	"rule": "riec.geen_ondermijning",
	"text": "Geen signalen van ondermijning: het RIEC wordt niet geïnformeerd (doelbinding, AVG art. 5 lid 1 sub b).",
} if not allow

wgs_basis := conf.legal_basis_wgs if lib.melding.case.wgs_designated == true

else := []

grant := {
	"purpose": conf.purpose,
	"legal_basis": array.concat(conf.legal_basis, wgs_basis),
	"fields": lib.fields(conf.fields),
	"base_fields": conf.fields,
	"obligations": array.concat(
		array.concat(["pseudonymise:victim"], lib.notify_obligation),
		[lib.retention("riec")],
	),
}

outcome := lib.outcome(allow, grant, reasons)
