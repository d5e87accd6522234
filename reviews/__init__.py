"""The review dossier as documents: DOCX, HTML and charts, built from the database."""
