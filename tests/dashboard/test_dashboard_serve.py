"""dashboard/serve.py: the heavy imports happen in the server process before Streamlit starts,
and the rest is ``streamlit run dashboard/app.py`` (issue 17)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SERVE = Path(__file__).resolve().parents[2] / "dashboard" / "serve.py"

CHECK = """
import json, sys
sys.path.insert(0, sys.argv[1])
import serve
before = [name for name in serve.PRELOADED if name in sys.modules]
serve.preload()
after = [name for name in serve.PRELOADED if name in sys.modules]
print(json.dumps([before, after, sys.modules["data"].__file__]))
"""


@pytest.mark.slow
def test_preload_imports_altair_pandas_and_the_data_layer() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECK, str(SERVE.parent)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    before, after, data_file = json.loads(done.stdout)
    assert before == []  # importing serve.py itself imports none of them
    assert after == ["altair", "pandas", "pyarrow", "data"]
    assert data_file == str(SERVE.parent / "data" / "__init__.py")  # the package (issue 15)


@pytest.mark.slow
def test_the_rest_is_streamlit_run_of_app_py() -> None:
    done = subprocess.run(
        [sys.executable, str(SERVE), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Usage: streamlit run" in done.stdout
