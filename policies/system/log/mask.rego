# METADATA
# title: Geen persoonsgegevens in de beslislogs van OPA
# description: >-
#   Verwijdert de persoonlijke velden van de melding uit de gelogde input; het besluit zelf
#   bevat alleen veldnamen, geen waarden.
# custom:
#   legal:
#     - AVG art. 5 lid 1 sub c
#     - AVG art. 32
package system.log

mask contains concat("/", ["/input/melding", path]) if some path in data.kmt.config.log_mask
