"""The HTTP edge: flask-smorest blueprints of the GeoReport API and the staff API."""
