"""Under pytest (nbmake in `make test`) every notebook runs in its own private emulator and
throw-away store, never in a `make run` world that happens to be up on the same machine: the
kernels nbmake starts inherit this variable (see toolkit.notebook_world)."""

from __future__ import annotations

import os

os.environ["SOTK_NOTEBOOK_WORLD"] = "private"
