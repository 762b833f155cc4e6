"""superoffice-toolkit: build, install, provision and operate SuperOffice CRM Online apps.

The names below are the curated public API (kept sorted; a test guards the list).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("superoffice-toolkit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0"
