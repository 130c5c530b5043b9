"""Serving the app: nginx in front of gunicorn on a unix socket, started and stopped together."""
