"""PartnerPaths: the mount prefix and each endpoint's path, checked before anything routes."""

from __future__ import annotations

import pytest

from toolkit.errors import ConfigurationError
from toolkit.partner_paths import DEFAULT_PARTNER_PATHS, PartnerPaths


def test_the_defaults_are_the_root_paths() -> None:
    paths = DEFAULT_PARTNER_PATHS
    assert (paths.prefix, paths.install, paths.callback) == ("", "/install", "/callback")
    assert (paths.state_change, paths.panel) == ("/state-change", "/panel")
    assert paths.health == "/healthz"
    assert (paths.installation, paths.uninstall) == ("/installation", "/uninstall")
    assert paths.panel_logout == "/panel/logout"
    assert paths.installation_status == "/installation/status"
    assert paths.full(paths.callback) == "/callback"


def test_a_prefix_goes_before_every_path() -> None:
    paths = PartnerPaths(prefix="/apps/so", callback="/oauth/return")
    assert paths.full(paths.callback) == "/apps/so/oauth/return"
    assert paths.full(paths.panel_logout) == "/apps/so/panel/logout"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("prefix", "/"),
        ("prefix", "so"),
        ("prefix", "/so/"),
        ("prefix", "//evil.example"),
        ("prefix", "/a b"),
        ("prefix", "/../x"),
        ("install", ""),
        ("install", "/install?x=1"),
        ("callback", "/{app}"),
        ("panel", "/a/./b"),
        ("health", "/" + "x" * 300),
    ],
)
def test_a_path_that_is_not_plain_segments_is_refused(field: str, value: str) -> None:
    with pytest.raises(ConfigurationError):
        PartnerPaths(**{field: value})


def test_two_endpoints_cannot_share_a_path() -> None:
    with pytest.raises(ConfigurationError, match="share the path /x"):
        PartnerPaths(install="/x", uninstall="/x")
