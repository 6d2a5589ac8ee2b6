"""The province's side: every hall's history in PostgreSQL, its reports, and a read-only province page."""
