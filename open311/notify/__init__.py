"""Telling the outside world: deliveries of outbox events by webhook and by e-mail."""
