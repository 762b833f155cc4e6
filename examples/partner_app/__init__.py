"""A partner's own FastAPI application with the toolkit inside (``app.py``)."""
