"""The screenshots (Development/ReconCoreDev/screenshots.py) are the summary pictures of a demo run, copied."""

import pytest

screenshots = pytest.importorskip("ReconCoreDev.screenshots")


def test_screenshots_are_the_demo_summaries(tmp_path):
    demo = tmp_path / "demo"
    for index, (command, case) in enumerate(screenshots.SCREENSHOT_CASES.values()):
        (demo / command / case).mkdir(parents=True)
        (demo / command / case / "summary.png").write_bytes(bytes([index]) * 10)
    written = screenshots.copyScreenshots(demo, tmp_path / "out")
    assert sorted(path.name for path in written) == ["AngioRecon.png", "EchoRecon.png", "FemurRegistration.png"]
    assert [path.read_bytes() for path in written] == [bytes([index]) * 10 for index in range(3)]


def test_a_missing_summary_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="AngioLeft/summary.png: no summary picture"):
        screenshots.copyScreenshots(tmp_path, tmp_path / "out")
