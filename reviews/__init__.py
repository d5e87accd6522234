"""The review cycle's dossier: content from plain data, then DOCX, HTML, charts, artifacts.

- `content` builds the dossier as plain data (pure: no database, no clock) around
  `core.dossier.figures`, so every number is the one `phoihop dossier` prints.
- `load` reads from the database what `content` needs.
- `docx`, `html`, `chart`, `markdown` turn the content into the host's printed form, the
  portal page, PNG charts and Prefect artifacts.
The steps the review flow calls (host notice, draft, final, carry-over) are a use case:
`services/reviews.py`.
"""
