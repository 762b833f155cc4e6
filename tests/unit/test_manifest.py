"""Provisioning manifests: TOML → frozen dataclasses, presets per model, file:line:field errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.errors import ManifestError
from toolkit.provisioning.manifest import (
    APPLICATION_MODELS,
    ApplicationIdentity,
    Manifest,
    load_manifest,
    preset_manifest,
    preset_text,
)
from toolkit.tenant import UrlEncoding, VisibleIn

PUBLIC = "https://partner.example.com"
APP = ApplicationIdentity(id="0b7f5d2e-app", name="Acme Sync")

GOOD = """\
model = "hybrid"

[[lists]]
name = "Acme status"
tooltip = "Sync states"
rank = 3

[[lists.items]]
name = "Synced"
rank = 1

[[lists.items]]
name = "Failed"
tooltip = "Needs a look"

[[web_panels]]
prog_id = "acme.contact"
name = "Acme"
url = "{public_url}/panel?contact=<cuid>&uctx=<uctx>"
visible_in = "contactcard"
window_name = "AcmeContact"
url_encoding = "ANSI"
on_travel = true
show_in_tool_bar = true
rank = 7

[[buttons]]
prog_id = "acme.main"
name = "Acme Sync!"
url = "https://partner.example.com/app?uctx=<uctx>"
"""


def test_a_good_manifest_loads_into_frozen_dataclasses() -> None:
    manifest = load_manifest(GOOD, public_url=PUBLIC)
    assert manifest.model == "hybrid"
    (status,) = manifest.lists
    assert (status.name, status.tooltip, status.rank) == ("Acme status", "Sync states", 3)
    assert [item.name for item in status.items] == ["Synced", "Failed"]
    (panel,) = manifest.web_panels
    assert panel.visible_in is VisibleIn.ContactCard
    assert panel.url_encoding is UrlEncoding.ANSI
    assert panel.url == f"{PUBLIC}/panel?contact=<cuid>&uctx=<uctx>"
    assert (panel.on_travel, panel.on_central, panel.show_in_tool_bar) == (True, True, True)
    with pytest.raises(AttributeError):
        panel.name = "x"  # type: ignore[misc]
    assert manifest.digest == load_manifest(GOOD, public_url=PUBLIC).digest


def test_a_button_expands_to_a_browser_panel_and_a_navigator_button() -> None:
    manifest = load_manifest(GOOD, public_url=PUBLIC)
    panel, button = manifest.buttons[0].panels()
    assert panel.prog_id == "acme.main.panel"
    assert button.prog_id == "acme.main.button"
    assert panel.visible_in is VisibleIn.BrowserPanel
    assert button.visible_in is VisibleIn.NavigatorButton
    assert panel.window_name == "AcmeSyncWindow"  # DNO's Clean(name) + "Window"
    assert button.window_name == "AcmeSyncButtonWindow"
    # The button opens the PANEL's window (protocol §7.2, [I]).
    assert button.url == "soprotocol:browser.AcmeSyncWindow"
    assert panel.rank == button.rank == 100
    assert manifest.prog_ids == {"acme.contact", "acme.main.panel", "acme.main.button"}


def test_errors_name_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "manifest.toml"
    path.write_text(
        """\
[[web_panels]]
prog_id = "a.one"
name = "One"
url = "https://partner.example.com/one"
visible_in = "ContactCard"

[[web_panels]]
prog_id = "a.two"
name = "Two"
url = "https://partner.example.com/two"
window_name = "Two"
visible_in = "NavBar"
"""
    )
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    error = caught.value
    assert (
        str(error)
        == "manifest.toml:12: web_panels[1].visible_in: 'NavBar' is not a VisibleIn value"
    )
    assert (error.source, error.line, error.field) == (
        "manifest.toml",
        12,
        "web_panels[1].visible_in",
    )


def test_every_problem_is_listed_in_line_order() -> None:
    text = """\
[[lists]]
name = "L"
[[lists.items]]
name = "A"
[[lists.items]]
name = "a"

[[web_panels]]
name = "No prog id"
url = "https://sod.superoffice.com/Cust12345/default.aspx"
visible_in = "ContactCard"
colour = "red"
"""
    with pytest.raises(ManifestError) as caught:
        load_manifest(text, name="m.toml")
    lines = caught.value.lines()
    assert lines[0].startswith("m.toml:6: lists[0].items[1].name: 'a' is already")
    assert any(line.startswith("m.toml:8: web_panels[0].prog_id: is required") for line in lines)
    assert any("m.toml:10: web_panels[0].url: names the SuperOffice host" in line for line in lines)
    assert any(line.startswith("m.toml:12: web_panels[0].colour: unknown key") for line in lines)
    assert "(and 3 more problem(s))" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://online2.superoffice.com/Cust1/x", "names the SuperOffice host"),
        ("https://<ctx>.example.com/x", "host from template variables"),
        ("http://partner.example.com/x", "loopback only"),
        ("ftp://partner.example.com/x", "https:// or soprotocol:"),
        ("https://partner.example.com/?a=<not a var>", "is not a template variable"),
        ("{public_url}/x", "no public URL was given"),
    ],
)
def test_urls_are_checked(url: str, problem: str) -> None:
    text = f'[[web_panels]]\nprog_id = "p"\nname = "P"\nvisible_in = "ContactCard"\nurl = "{url}"\n'
    with pytest.raises(ManifestError, match=problem) as caught:
        load_manifest(text)
    assert caught.value.line == 5
    assert caught.value.field == "web_panels[0].url"


def test_loopback_http_and_soprotocol_urls_are_fine() -> None:
    text = """\
[[web_panels]]
prog_id = "p.one"
name = "P"
visible_in = "ContactCard"
url = "http://127.0.0.1:8000/panel?uctx=<uctx>"

[[web_panels]]
prog_id = "p.two"
name = "Q"
visible_in = "ToolboxMenu"
url = "soprotocol:browser.PWindow"
"""
    assert len(load_manifest(text).web_panels) == 2


def test_prog_ids_are_unique_across_panels_and_buttons() -> None:
    text = """\
[[web_panels]]
prog_id = "acme.main.panel"
name = "P"
visible_in = "ContactCard"
url = "https://partner.example.com/"

[[buttons]]
prog_id = "acme.main"
name = "Main"
url = "https://partner.example.com/"
"""
    with pytest.raises(ManifestError, match=r"buttons\[0\]\.prog_id: 'acme.main.panel' is already"):
        load_manifest(text)


def test_an_external_application_has_no_panels_or_buttons() -> None:
    with pytest.raises(ManifestError, match="external application has no UI") as caught:
        load_manifest(GOOD.replace('model = "hybrid"', ""), model="external", public_url=PUBLIC)
    assert {field for _, field, _ in caught.value.problems} == {"web_panels[0]", "buttons[0]"}
    lists_only = "[[lists]]\nname = 'Sync queue'\n"
    assert load_manifest(lists_only, model="external").lists[0].name == "Sync queue"


def test_a_declared_model_must_match_the_application() -> None:
    with pytest.raises(ManifestError, match="model: the manifest is for 'hybrid'"):
        load_manifest(GOOD, model="internal", public_url=PUBLIC)


def test_syntax_errors_have_their_line() -> None:
    with pytest.raises(ManifestError) as caught:
        load_manifest('[[lists]]\nname = "x"\nrank = \n', name="bad.toml")
    assert caught.value.line == 3
    assert str(caught.value).startswith("bad.toml:3: not valid TOML")


@pytest.mark.parametrize("model", APPLICATION_MODELS)
def test_presets_per_model(model: str) -> None:
    manifest = preset_manifest(model, public_url=PUBLIC, application=APP)
    assert manifest.model == model
    assert preset_text(model).strip()
    if model == "external":
        assert manifest.all_web_panels() == ()
    else:
        kinds = {panel.visible_in for panel in manifest.all_web_panels()}
        assert {VisibleIn.BrowserPanel, VisibleIn.NavigatorButton} <= kinds
        # Every /panel URL names the application and takes the tenant from <uctx>.
        urls = [p.url for p in manifest.all_web_panels()] + [m.url for m in manifest.task_menus]
        panel_urls = [url for url in urls if "/panel" in url]
        assert panel_urls
        assert all(url.startswith(f"{PUBLIC}/panel/0b7f5d2e-app?uctx=<uctx>") for url in panel_urls)
        assert [b.prog_id for b in manifest.buttons if b.opens_window] == ["app.window"]
        assert [m.prog_id for m in manifest.task_menus] == ["app.task.contact"]
        assert all(
            panel.url.startswith(PUBLIC) or panel.url.startswith("soprotocol:")
            for panel in manifest.all_web_panels()
        )
    assert bool(manifest.lists) is (model == "hybrid")


def test_a_manifest_can_start_from_a_preset_and_override_it() -> None:
    text = """\
preset = "internal"

[[web_panels]]
prog_id = "app.contact"
name = "Mine"
url = "https://partner.example.com/mine"
visible_in = "PersonCard"
"""
    manifest = load_manifest(text, public_url=PUBLIC, application=APP)
    names = {panel.prog_id: panel.name for panel in manifest.all_web_panels()}
    assert names["app.contact"] == "Mine"
    assert "app.main.button" in names


def test_an_empty_manifest_is_valid_and_empty() -> None:
    assert load_manifest("").is_empty()
    assert Manifest().is_empty()


OPTIONAL = """
[[lists]]
name = "Acme states"
optional = true
[[lists.items]]
name = "New"

[[web_panels]]
prog_id = "acme.contact"
name = "Acme"
url = "https://partner.example.com/panel?uctx=<uctx>"
visible_in = "ContactCard"

[[buttons]]
prog_id = "acme.main"
name = "Acme portal"
url = "https://partner.example.com/portal"
optional = true
"""


def test_optional_parts_are_offered_and_can_be_left_out() -> None:
    manifest = load_manifest(OPTIONAL)
    assert manifest.optional_parts() == (
        ("list:Acme states", "list", "Acme states"),
        ("button:acme.main", "button", "Acme portal"),
    )
    assert manifest.web_panels[0].optional is False
    chosen = manifest.choose({"button:acme.main"})
    assert [spec.name for spec in chosen.lists] == []
    assert [spec.prog_id for spec in chosen.buttons] == ["acme.main"]
    assert chosen.web_panels == manifest.web_panels  # never optional: always kept
    assert manifest.choose([]).prog_ids == frozenset({"acme.contact"})
    assert "optional" not in manifest.web_panels[0].entity_fields()


def test_optional_must_be_a_boolean() -> None:
    with pytest.raises(ManifestError, match=r"lists\[0\]\.optional: must be true or false"):
        load_manifest('[[lists]]\nname = "A"\noptional = "yes"\n')


# -- buttons that open a new window, task menus, visibility, panel URLs (issue 12) -------------

WINDOW_AND_TASKS = """\
[[buttons]]
prog_id = "acme.portal"
name = "Acme portal"
opens = "window"
visible_in = "ButtonPanelTask"
url = "{public_url}/portal?uctx=<uctx>"
visible_to_everyone = false

[[task_menus]]
prog_id = "acme.task"
name = "Sync with Acme"
table_name = "contact"
tooltip = "Sync this company"
url = "{public_url}/panel/{app}?uctx=<uctx>&contact=<cuid>"
show_in_client = "mobile"
archive_behaviour = "InArchives"
rank = 4

[[task_menus]]
prog_id = "acme.goto"
name = "Go to Acme"
url = "soprotocol:browser.AcmeWindow"
"""


def test_a_button_can_open_the_portal_in_a_new_window() -> None:
    manifest = load_manifest(WINDOW_AND_TASKS, public_url=PUBLIC, application=APP)
    (button,) = manifest.all_web_panels()
    assert button.prog_id == "acme.portal.button"
    assert button.window_name == "_blank"
    assert button.visible_in is VisibleIn.ButtonPanelTask
    assert button.url == "https://partner.example.com/portal?uctx=<uctx>"
    assert button.group == "buttons"
    assert button.visible_to_everyone is False
    assert "visible_to_everyone" not in button.entity_fields()


def test_task_menus_load_with_their_wire_fields() -> None:
    manifest = load_manifest(WINDOW_AND_TASKS, public_url=PUBLIC, application=APP)
    task, goto = manifest.task_menus
    assert task.fields() == {
        "ProgId": "acme.task",
        "Name": "Sync with Acme",
        "Tooltip": "Sync this company",
        "TableName": "contact",
        "Area": "Task",
        "UrlOrSoprotocol": "https://partner.example.com/panel/0b7f5d2e-app?uctx=<uctx>&contact=<cuid>",
        "TaskType": "Url",
        "ShowInClient": "Mobile",
        "ArchiveBehaviour": "InArchives",
        "Rank": 4,
        "Encoding": "None",
    }
    assert goto.task_type == "SoProtocol"
    assert manifest.task_menu_prog_ids == frozenset({"acme.task", "acme.goto"})
    assert "task_menus" in manifest.describe()


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ('opens = "tab"', r"buttons\[0\]\.opens: 'tab' is not one of panel, window"),
        ('visible_in = "ContactCard"', r"'ContactCard' is not a button location"),
        ('window_name = "Mine"\nopens = "window"', r"a button that opens a new window uses _blank"),
        ("visible_to_everyone = 1", r"visible_to_everyone: must be true or false"),
    ],
)
def test_button_mistakes_are_refused(entry: str, problem: str) -> None:
    text = f'[[buttons]]\nprog_id = "a.b"\nname = "A"\nurl = "https://p.example/x"\n{entry}\n'
    with pytest.raises(ManifestError, match=problem):
        load_manifest(text)


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ('name = "{}"'.format("n" * 240), r"task_menus\[0\]\.name: is longer than 239"),
        ('name = "T"\nshow_in_client = "Desktop"', r"'Desktop' is not one of None, Web, Mobile"),
        ('name = "T"\ntable_name = "contact; drop"', r"is not an entity name"),
        ('name = "T"\nurl2 = "x"', r"task_menus\[0\]\.url2: unknown key"),
    ],
)
def test_task_menu_mistakes_are_refused(entry: str, problem: str) -> None:
    text = f'[[task_menus]]\nprog_id = "t.a"\nurl = "https://p.example/x"\n{entry}\n'
    with pytest.raises(ManifestError, match=problem):
        load_manifest(text)


def test_task_menu_names_and_prog_ids_are_unique() -> None:
    text = (
        '[[task_menus]]\nprog_id = "t.a"\nname = "Same"\nurl = "https://p.example/x"\n'
        '[[task_menus]]\nprog_id = "t.a"\nname = "same"\nurl = "https://p.example/y"\n'
    )
    with pytest.raises(ManifestError) as caught:
        load_manifest(text)
    text_of = " ".join(message for _, _, message in caught.value.problems)
    assert "task menu ProgIds are unique" in text_of
    assert "task menu names are unique" in text_of


def test_an_external_application_has_no_task_menus() -> None:
    text = '[[task_menus]]\nprog_id = "t.a"\nname = "T"\nurl = "https://p.example/x"\n'
    with pytest.raises(ManifestError, match="no task menus"):
        load_manifest(text, model="external")


def test_panels_are_visible_to_everyone_unless_the_manifest_says_otherwise() -> None:
    manifest = load_manifest(GOOD, public_url=PUBLIC)
    assert all(panel.visible_to_everyone for panel in manifest.all_web_panels())


def test_app_is_replaced_by_the_application_id_and_needs_an_application() -> None:
    text = (
        '[[web_panels]]\nprog_id = "p"\nname = "P"\nvisible_in = "ContactCard"\n'
        'url = "{public_url}/panel/{app}?uctx=<uctx>"\n'
    )
    manifest = load_manifest(text, public_url=PUBLIC, application=APP)
    assert manifest.web_panels[0].url == f"{PUBLIC}/panel/0b7f5d2e-app?uctx=<uctx>"
    with pytest.raises(ManifestError, match=r"uses \{app\} but no application was given"):
        load_manifest(text, public_url=PUBLIC)


def _panel(url: str) -> str:
    return f'[[web_panels]]\nprog_id = "p"\nname = "P"\nvisible_in = "ContactCard"\nurl = "{url}"\n'


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (
            "{public_url}/panel?uctx=<uctx>",
            r"opens /panel without naming the application, so the panel could never tell",
        ),
        ("{public_url}/panel/{app}?contact=<cuid>", r"opens /panel without the tenant: add uctx"),
        ("{public_url}/panel?app=Other&uctx=<uctx>", r"names the application 'Other', not"),
        ("{public_url}/panel?app=<usid>&uctx=<uctx>", r"must be written in the URL, not a"),
        ("{public_url}/panel/{app}?uctx=<cuid>", r"without the tenant"),
    ],
)
def test_a_panel_url_that_could_never_identify_the_application_is_refused(
    url: str, problem: str
) -> None:
    with pytest.raises(ManifestError, match=problem):
        load_manifest(_panel(url), public_url=PUBLIC, application=APP)
    # Without an application (and {app}) nothing is known to check against.
    if "{app}" not in url:
        load_manifest(_panel(url), public_url=PUBLIC)


@pytest.mark.parametrize(
    "url",
    [
        "{public_url}/panel/{app}?uctx=<uctx>&contact=<cuid>",
        "{public_url}/panel?app=Acme%20Sync&ctx=<uctx>",
        "{public_url}/panel?app=0b7f5d2e-app&uctx=<UCTX>",
        "{public_url}/panel/{app}?ctx=Cust12345",  # one tenant, written out (a custom app)
        "{public_url}/portal?uctx=<uctx>",  # not /panel: the partner's own page
    ],
)
def test_panel_urls_that_identify_the_application_are_accepted(url: str) -> None:
    load_manifest(_panel(url), public_url=PUBLIC, application=APP)


def test_the_check_can_be_skipped_for_a_manifest_stored_before_it() -> None:
    old = _panel("{public_url}/panel?uctx=<uctx>")
    manifest = load_manifest(old, public_url=PUBLIC, application=APP, check_panel_urls=False)
    assert manifest.web_panels[0].url == f"{PUBLIC}/panel?uctx=<uctx>"
