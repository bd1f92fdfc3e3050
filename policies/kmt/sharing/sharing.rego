# METADATA
# title: KMT deelbesluit
# description: >-
#   Ingang data.kmt.sharing.decision: per melding en ontvanger het besluit of KMT mag
#   delen, met doel, grondslag, velden, verplichtingen en redenen. Niets wordt gedeeld
#   tenzij een regel van de ontvanger het toestaat.
package kmt.sharing

import data.kmt.gemeente_veiligheid
import data.kmt.lib
import data.kmt.riec
import data.kmt.veilig_thuis

default policy_revision := "unversioned"

policy_revision := data.kmt_meta.policy_revision

recipient := object.get(input, "recipient", null)

decision := decision_for(recipient)

# METADATA
# title: KMT deelbesluiten, alle ontvangers in één vraag
# description: >-
#   Ingang data.kmt.sharing.decisions: per ontvanger in input.recipients precies het besluit
#   dat data.kmt.sharing.decision voor die ontvanger geeft, in één vraag per melding; wat
#   niet van de ontvanger afhangt, rekent het beleid dan één keer uit.
decisions := {asked: decision_for(asked) | some asked in input.recipients}

common(recipient) := {
	"recipient": recipient,
	"policy_revision": policy_revision,
	"municipality": null,
	"alerts": [alert | some alert in lib.alerts],
}

melding_present if is_object(input.melding)

decision_for(recipient) := object.union(common(recipient), riec.outcome) if {
	melding_present
	recipient == "riec"
}

decision_for(recipient) := object.union(
	common(recipient),
	object.union(gemeente_veiligheid.outcome, {"municipality": gemeente_veiligheid.municipality}),
) if {
	melding_present
	recipient == "gemeente_veiligheid"
}

decision_for(recipient) := object.union(
	common(recipient),
	object.union(veilig_thuis.outcome, {"alerts": [alert | some alert in (lib.alerts | veilig_thuis.alerts)]}),
) if {
	melding_present
	recipient == "veilig_thuis"
}

# METADATA
# title: Onbekende ontvanger, niets delen
# custom:
#   rule: algemeen.onbekende_ontvanger
#   effect: weigeren
#   legal:
#     - AVG art. 5 lid 1 sub b
decision_for(recipient) := object.union(common(recipient), lib.outcome(false, {}, {{
	"rule": "algemeen.onbekende_ontvanger",
	"text": "Onbekende ontvanger: KMT deelt alleen met het RIEC, de veiligheidsmedewerker van de betrokken gemeente en Veilig Thuis Twente; er wordt niets gedeeld.",
}})) if not recipient in object.keys(lib.cfg.recipients)

# METADATA
# title: Geen melding, niets delen
# custom:
#   rule: algemeen.geen_melding
#   effect: weigeren
#   legal:
#     - AVG art. 5 lid 1 sub b
decision_for(recipient) := object.union(common(recipient), lib.outcome(false, {}, {{
	"rule": "algemeen.geen_melding",
	"text": "De vraag bevat geen melding: er is niets om over te beslissen en er wordt niets gedeeld.",
}})) if {
	recipient in object.keys(lib.cfg.recipients)
	not melding_present
}
