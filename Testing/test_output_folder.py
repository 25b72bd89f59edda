"""The output folder of a run (``storage.atomicOutputDirectory``): all or nothing, replaced whole, locked while a run
writes, cleaned of what killed runs left, and refused when it is someone else's folder."""

import os

import pytest

from ReconCoreLib.storage import RESULT_MARKER, atomicOutputDirectory


def test_atomic_output_failure_leaves_no_trace(tmp_path):
    target = tmp_path / "results"
    with pytest.raises(RuntimeError, match="boom"):
        with atomicOutputDirectory(target) as staging:
            assert staging.parent == tmp_path and staging.is_dir() and staging != target
            (staging / "half.nrrd").write_text("half")
            raise RuntimeError("boom")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_output_failure_keeps_existing_target(tmp_path):
    target = tmp_path / "results"
    target.mkdir()
    (target / "readouts.json").write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomicOutputDirectory(target) as staging:
            (staging / "readouts.json").write_text("new, half done")
            (staging / "extra.vtk").write_text("half")
            raise KeyboardInterrupt
    assert [item.name for item in target.iterdir()] == ["readouts.json"]
    assert (target / "readouts.json").read_text() == "old"
    assert [item.name for item in tmp_path.iterdir()] == ["results"]


def test_atomic_output_success(tmp_path):
    target = tmp_path / "deep" / "results"  # parents are created
    with atomicOutputDirectory(target) as staging:
        (staging / "readouts.json").write_text("{}")
        (staging / "segments").mkdir()
        (staging / "segments" / "lv.vtk").write_text("lv")
        assert not target.exists()  # nothing visible before the body completes
        assert (target.parent / ".results.lock").is_file()  # held while the run writes
    assert sorted(item.name for item in target.iterdir()) == [RESULT_MARKER, "readouts.json", "segments"]
    assert (target / "segments" / "lv.vtk").read_text() == "lv"
    assert [item.name for item in target.parent.iterdir()] == ["results"]  # no staging, no lock left


def test_atomic_output_replaces_an_earlier_result_whole(tmp_path):
    target = tmp_path / "results"
    with atomicOutputDirectory(target) as staging:  # an earlier run: ED and ES
        (staging / "readouts.json").write_text("old")
        (staging / "lv_es.vtk").write_text("stale")
        (staging / "segments").mkdir()
        (staging / "segments" / "stale.vtk").write_text("stale")
    with atomicOutputDirectory(target) as staging:  # a later one: ED only
        (staging / "readouts.json").write_text("new")
        (staging / "segments").mkdir()
        (staging / "segments" / "lv.vtk").write_text("lv")
    assert sorted(item.name for item in target.iterdir()) == [RESULT_MARKER, "readouts.json", "segments"]
    assert (target / "readouts.json").read_text() == "new"
    assert [item.name for item in (target / "segments").iterdir()] == ["lv.vtk"]
    assert [item.name for item in tmp_path.iterdir()] == ["results"]


@pytest.mark.parametrize("content", ["notes.txt", "subfolder/"])
def test_atomic_output_refuses_a_folder_holding_other_files(tmp_path, content):
    target = tmp_path / "Desktop"
    (target / content.rstrip("/")).parent.mkdir(parents=True, exist_ok=True)
    (target / "notes.txt").write_text("mine") if content == "notes.txt" else (target / "subfolder").mkdir()
    entered = []
    with pytest.raises(ValueError, match="holds other files and no earlier Recon2Dto3D result"):
        with atomicOutputDirectory(target):
            entered.append(True)
    assert entered == [] and sorted(item.name for item in target.iterdir()) == [content.rstrip("/")]
    assert [item.name for item in tmp_path.iterdir()] == ["Desktop"]


@pytest.mark.parametrize("out", ["", "  ", None])
def test_atomic_output_refuses_an_empty_name(out, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="output folder is empty"):
        with atomicOutputDirectory(out):
            pass
    assert list(tmp_path.iterdir()) == []


def test_atomic_output_second_concurrent_run_is_refused(tmp_path):
    target = tmp_path / "results"
    with atomicOutputDirectory(target) as staging:
        (staging / "readouts.json").write_text("first")
        with pytest.raises(ValueError, match="another recon2d3d run is writing there"):
            with atomicOutputDirectory(target):
                pass
    assert (target / "readouts.json").read_text() == "first"
    with atomicOutputDirectory(target) as staging:  # the lock is free again afterwards
        (staging / "readouts.json").write_text("second")
    assert (target / "readouts.json").read_text() == "second"


def test_atomic_output_removes_what_killed_runs_left(tmp_path):
    target = tmp_path / "results"
    for stale in (".results.partial-abc123", ".results.old-def456"):  # as a SIGKILLed run leaves them
        (tmp_path / stale / "half").mkdir(parents=True)
    (tmp_path / ".results.lock").write_text("")  # a killed run's lock file (its lock died with it)
    (tmp_path / ".other.partial-xyz").mkdir()  # another output folder's staging is not ours to remove
    with atomicOutputDirectory(target) as staging:
        (staging / "readouts.json").write_text("{}")
    assert sorted(item.name for item in tmp_path.iterdir()) == [".other.partial-xyz", "results"]


def test_atomic_output_into_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with atomicOutputDirectory(".") as staging:  # an empty working folder may take a result
        (staging / "readouts.json").write_text("{}")
    assert sorted(item.name for item in tmp_path.iterdir()) == [RESULT_MARKER, "readouts.json"]


def test_atomic_output_onto_a_file_is_refused_before_any_work(tmp_path):
    target = tmp_path / "results"
    target.write_text("file")
    entered = []
    with pytest.raises(ValueError, match="not a folder"):
        with atomicOutputDirectory(target):
            entered.append(True)
    assert entered == []
    assert target.read_text() == "file"
    assert [item.name for item in tmp_path.iterdir()] == ["results"]


def test_atomic_output_folder_replaces_a_file_of_the_same_name(tmp_path):
    target = tmp_path / "results"
    target.mkdir()
    (target / "readouts.json").write_text("{}")  # an earlier result
    (target / "segments").write_text("a file where the result has a folder")
    with atomicOutputDirectory(target) as staging:
        (staging / "readouts.json").write_text("{}")
        (staging / "segments").mkdir()
        (staging / "segments" / "lv.vtk").write_text("lv")
    assert (target / "segments" / "lv.vtk").read_text() == "lv"
    assert [item.name for item in tmp_path.iterdir()] == ["results"]


def test_atomic_output_move_failure_leaves_no_staging(tmp_path, monkeypatch):
    target = tmp_path / "results"

    def failingReplace(source, destination):
        raise OSError("disk full")

    monkeypatch.setattr("ReconCoreLib.storage.os.replace", failingReplace)
    with pytest.raises(OSError, match="disk full"):
        with atomicOutputDirectory(target) as staging:
            (staging / "readouts.json").write_text("{}")
    assert [item.name for item in tmp_path.iterdir() if ".partial" in item.name] == []


def test_scene_caches_of_killed_runs_are_removed(tmp_path, monkeypatch):
    """A run killed outright (SIGKILL, the OOM killer) leaves its headless scene's cache folder; the next scene made
    removes the folders of processes that no longer run, and keeps those of running ones."""
    import subprocess
    import sys
    import tempfile

    from ReconCoreLib import runtime

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    deadPid = int(ended.stdout)
    stale = tmp_path / f"{runtime.CACHE_PREFIX}{deadPid}-abc"
    (stale / "cached").mkdir(parents=True)
    alive = tmp_path / f"{runtime.CACHE_PREFIX}{os.getppid()}-def"  # the process that started this test
    alive.mkdir()
    other = tmp_path / "someone-else-123"
    other.mkdir()
    scene = runtime.newHeadlessScene()
    try:
        assert not stale.exists() and alive.is_dir() and other.is_dir()
        assert list(tmp_path.glob(f"{runtime.CACHE_PREFIX}{os.getpid()}-*"))  # this scene's own cache
    finally:
        runtime.releaseScene(scene)
    assert not list(tmp_path.glob(f"{runtime.CACHE_PREFIX}{os.getpid()}-*"))
