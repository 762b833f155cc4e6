"""A partner's own Flask (WSGI) application on the toolkit's sync API (``app.py``)."""
