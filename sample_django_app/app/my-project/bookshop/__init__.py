"""A small bookshop: a catalogue page, a JSON API and a health check that names the schema."""
