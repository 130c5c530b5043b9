"""WSGI entry point for servers that import a module-level app (gunicorn wsgi:app)."""

from open311 import create_app

app = create_app()
