"""Packaging for the open311 GeoReport v2 server."""

from setuptools import find_packages, setup

setup(
    name="open311",
    version="0.1.0",
    description="Open311 GeoReport v2 server with a 311 back office, on PostgreSQL + PostGIS",
    license="AGPL-3.0-or-later",
    python_requires=">=3.11",
    packages=find_packages(include=["open311", "open311.*"]),
    package_data={
        "open311.demo": ["*.json", "*.yaml"],
        "open311.notify": ["templates/*.txt"],
        "open311.wire": ["report_templates/*.html"],
        "open311.locales": ["*/LC_MESSAGES/*.po"],
        "open311.web": ["templates/*.html", "templates/*/*.html", "static/*"],
    },
    install_requires=[
        "flask>=3.1,<4",
        "flask-smorest>=0.46,<0.48",
        "marshmallow>=4,<5",
        "SQLAlchemy>=2.0,<2.2",
        "GeoAlchemy2>=0.18,<0.21",
        "shapely>=2.0,<3",
        # The binary wheel needs no compiler or libpq headers on a fresh machine; same API.
        "psycopg2-binary>=2.9,<3",
        "alembic>=1.13,<2",
        "gunicorn>=23",
        # `open311 geodata import` reads GeoJSON, Shapefile, GeoPackage, ... with pyogrio, whose
        # wheels bundle GDAL (no system GDAL or compiler needed), and reprojects with pyproj,
        # whose wheels bundle PROJ and its database.
        "pyogrio>=0.10,<1",
        "pyproj>=3.6,<4",
        # Public holidays per country/subdivision for the SLA business calendar.
        "holidays>=0.60",
        # `open311 seed --requests N` draws and formats a million synthetic requests as arrays
        # (a few seconds instead of a minute of per-row Python); shapely needs it anyway.
        "numpy>=1.24",
        # Photos: Pillow decodes by content, re-encodes without EXIF and makes
        # thumbnails; pillow-heif adds HEIC (iPhone photos) to Pillow, wheels bundle libheif.
        "Pillow>=10",
        "pillow-heif>=0.18",
        # `open311 worker` POSTs webhooks with requests (timeouts, connection reuse per host).
        "requests>=2.31",
        # Photos in an S3-compatible store (AWS, MinIO, Ceph, Garage, R2) when
        # OPEN311_MEDIA_S3_BUCKET is set: boto3 signs the requests and reads credentials from
        # the usual chain (environment, profiles, instance roles); 1.36 for the checksum settings
        # that stores other than AWS need.
        "boto3>=1.36",
        # Rate limits counted in Redis, shared by every worker and node: `limits` itself rather
        # than flask-limiter, since a write's client and its own limit are known only once the
        # view has checked the api_key, and the 429s and RateLimit fields are ours to write
        # (api/ratelimits.py); its redis extra brings redis-py.
        "limits[redis]>=5,<6",
        # GET /metrics in Prometheus' text format, summed over gunicorn's workers by its
        # multiprocess mode (api/metrics.py).
        "prometheus-client>=0.20",
        # Languages: locale negotiation (Accept-Language, es-MX -> es), plural and date formats,
        # and PO catalogues read and written (translations a city exchanges with translators).
        "Babel>=2.14",
        # Knowledge-base bodies: Markdown rendered by markdown-it-py (CommonMark, HTML input off),
        # and any HTML, imported or rendered, cleaned by nh3 (the Rust ammonia sanitiser) to an
        # allow-list of tags and attributes before it is stored.
        "markdown-it-py>=3",
        "nh3>=0.2.15",
        # A knowledge base imported and exported as YAML (as well as JSON); safe_load only.
        "PyYAML>=6",
        # XLIFF translation files uploaded by a city are parsed without entity expansion.
        "defusedxml>=0.7",
        # Statistics as pictures: every series as SVG and PNG, and the monthly report's charts
        # and PDF (matplotlib's Agg, SVG and PDF backends need no display or system library).
        "matplotlib>=3.8",
        # The pages' forms (the public filing form, the staff console): CSRF tokens checked on
        # every POST by Flask-WTF's CSRFProtect, bound to the signed session cookie.
        "Flask-WTF>=1.2,<2",
    ],
    extras_require={
        "dev": [
            "pytest>=8",
            "pytest-xdist>=3",
            "ruff>=0.6",
            "jsonschema>=4.20",
            "rfc3339-validator",
            "rfc3986-validator",
            "schemathesis>=4,<5",
            # A real SMTP server inside the tests, for the e-mails the worker sends.
            "aiosmtpd>=1.4",
            # A real S3-compatible server inside the tests (ThreadedMotoServer), for S3Store.
            "moto[server]>=5",
            # The browser tests drive Debian's Chromium through its chromedriver (no browser
            # download: the driver's path is given, so Selenium Manager is never asked).
            "selenium>=4.20,<5",
            # Decodes the map's vector tiles in tests (tests/db/test_tile_queries.py): what
            # ST_AsMVT wrote, feature by feature.
            "mapbox-vector-tile>=2.1,<3",
        ],
    },
    entry_points={"console_scripts": ["open311=open311.cli:main"]},
)
