"""core.paths.setting_file: how a setting names a shipped file, the user's own, or none (co-mentions, ranker)."""

from pathlib import Path

from recsys.core.paths import setting_file


def test_a_setting_names_the_shipped_file_the_users_or_none(tmp_path):
    shipped = tmp_path / "shipped.json"
    assert setting_file("", shipped) is None  # nothing shipped: run without that part
    shipped.write_text("{}")
    assert setting_file("", shipped) == shipped
    assert setting_file("none", shipped) is None and setting_file("None", shipped) is None
    mine = tmp_path / "missing.json"
    assert setting_file(str(mine), shipped) == mine  # missing, but the caller's error names it
    assert isinstance(setting_file(str(mine), shipped), Path)
