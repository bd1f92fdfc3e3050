"""The data-subject access report (AVG art. 15), for a victim or a suspect: who it is about
(`query`), what it says (`content`), the text for the person (`document`), as HTML and PDF."""
