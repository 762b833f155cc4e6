import toolkit


def test_all_is_sorted_and_complete() -> None:
    assert toolkit.__all__ == sorted(toolkit.__all__)
    for name in toolkit.__all__:
        assert hasattr(toolkit, name), name


def test_the_emulator_stays_out_of_the_client_api() -> None:
    assert not any("emulator" in name.lower() for name in toolkit.__all__)


def test_every_public_name_has_a_home() -> None:
    assert set(toolkit.__all__) - {"__version__"} == set(toolkit._HOMES)


def test_importing_toolkit_stays_light() -> None:
    import subprocess
    import sys

    code = "import sys, toolkit; print('sqlalchemy' in sys.modules, 'httpx' in sys.modules)"
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert output == ["False", "False"]
