"""Configuration datastores: edits, filters, the commit path and persistence."""
