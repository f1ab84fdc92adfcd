"""The cold-start baseline: a bare Chalice app that imports boto3, as a typical Lambda handler does.
bench/cold_start.py imports it the same way it imports certgate's app.py."""

from __future__ import annotations

import boto3
from chalice import Chalice

app = Chalice(app_name="baseline")
_session = boto3.session.Session  # referenced so the import is not an unused one


@app.route("/")
def index():
    return {"hello": "world"}
