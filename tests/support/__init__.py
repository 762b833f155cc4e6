"""What the test folders share: the running emulator, the partner endpoints, databases on SQLite
and PostgreSQL, an installed tenant, the CLI's environment and the browser's start-up and
sign-in.

``tests`` is on the import path (``pythonpath`` in pyproject.toml), so a test imports
``support.<module>``; the root conftest registers the fixture modules as pytest plugins, so a
fixture defined here is available in every folder (a folder's own fixture of the same name
takes precedence).
"""
