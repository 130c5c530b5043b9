"""Persistence: engine and sessions, typed models, and the queries over them."""
