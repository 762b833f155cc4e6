"""Start the dashboard's Streamlit server with its heavy imports done first, once.

``python dashboard/serve.py [streamlit run options]`` is ``streamlit run dashboard/app.py``
after importing pandas, Altair, pyarrow (Streamlit's table encoding) and the data layer (the
toolkit behind it) in the server process: Streamlit runs every session's script in that same
process, so no operator's first page view waits for them (Altair alone takes about a second,
issue 17). ``sotk dashboard`` and ``make run`` start the dashboard this way; a plain
``streamlit run dashboard/app.py`` still works and imports them on the first view.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

DASHBOARD_DIR = Path(__file__).resolve().parent
APP = DASHBOARD_DIR / "app.py"
# What the pages import, heaviest first; "data" is the dashboard's data layer (dashboard/data/).
PRELOADED = ("altair", "pandas", "pyarrow", "data")


def preload() -> None:
    """Import what the pages need, once (app.py later finds them in ``sys.modules``)."""
    if str(DASHBOARD_DIR) not in sys.path:
        sys.path.insert(0, str(DASHBOARD_DIR))
    for name in PRELOADED:
        importlib.import_module(name)


def main(argv: list[str]) -> None:
    preload()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(APP), *argv]
    cli.main()  # exits with the server's status


if __name__ == "__main__":
    main(sys.argv[1:])
