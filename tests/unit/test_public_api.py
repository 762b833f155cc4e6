import toolkit


def test_all_is_sorted_and_complete() -> None:
    assert toolkit.__all__ == sorted(toolkit.__all__)
    for name in toolkit.__all__:
        assert hasattr(toolkit, name), name


def test_the_emulator_stays_out_of_the_client_api() -> None:
    assert not any("emulator" in name.lower() for name in toolkit.__all__)
