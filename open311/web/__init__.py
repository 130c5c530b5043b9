"""The pages people use, served by the same app through the same domain functions as the APIs:
the public site (the map and its vector tiles, request pages, the filing form, the knowledge
base, the city's figures), the staff console (/staff) and the API docs (/docs)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from open311.web import assets, city, docs, home, knowledge, pages, report, request_pages, tiles
    from open311.web.staff import crew, intake, queue, signin

    pages.init_app(app)
    app.register_blueprint(assets.blp)
    app.register_blueprint(assets.icon)
    for module in (home, tiles, request_pages, report, knowledge, city, docs):
        app.register_blueprint(module.blp)
    for module in (signin, intake, queue, crew):
        app.register_blueprint(module.blp)
    app.jinja_env.globals["staff_screens"] = signin.screens_of
