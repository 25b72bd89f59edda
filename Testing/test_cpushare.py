"""torch's threads fitted to the cores other processes leave free (ReconCoreLib.cpushare)."""

import subprocess
import sys
import threading

import pytest

from ReconCoreLib import cpushare


@pytest.fixture
def machine(monkeypatch):
    """A 2-core machine whose clock, whole-machine and own CPU seconds the test sets."""
    state = {"now": 100.0, "busy": 5000.0, "own": 10.0}
    monkeypatch.setattr(cpushare, "_machineBusySeconds", lambda: state["busy"])
    monkeypatch.setattr(cpushare, "_ownSeconds", lambda: state["own"])
    monkeypatch.setattr(cpushare, "_now", lambda: state["now"])
    monkeypatch.setattr(cpushare, "usableCores", lambda: 2)
    monkeypatch.setattr(cpushare, "_started", None)
    monkeypatch.setattr(cpushare, "_ceiling", None)
    return state


def advance(state, seconds, ownCores, otherCores):
    state["now"] += seconds
    state["own"] += seconds * ownCores
    state["busy"] += seconds * (ownCores + otherCores)


@pytest.mark.parametrize("otherCores, expected", [(0.0, 2.0), (0.3, 1.7), (1.0, 1.0), (2.0, 0.0), (3.5, 0.0)])
def test_free_cores_are_the_usable_ones_less_what_other_processes_used(machine, otherCores, expected):
    cpushare.startCase()
    advance(machine, 2.0, ownCores=1.0, otherCores=otherCores)
    assert cpushare.freeCores() == pytest.approx(expected)


def test_unknown_without_a_start_a_long_enough_interval_or_proc_stat(machine, monkeypatch):
    assert cpushare.freeCores() is None  # no case started
    cpushare.startCase()
    advance(machine, cpushare.MIN_INTERVAL_S / 2, ownCores=1.0, otherCores=1.0)
    assert cpushare.freeCores() is None
    monkeypatch.setattr(cpushare, "_machineBusySeconds", lambda: None)  # macOS, Windows
    cpushare.startCase()
    advance(machine, 2.0, ownCores=1.0, otherCores=1.0)
    assert cpushare.freeCores() is None


def test_torch_threads_follow_the_free_cores_within_the_ceiling(machine):
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        cpushare.startCase()
        advance(machine, 1.0, ownCores=1.0, otherCores=1.0)  # one competing process
        assert cpushare.fitTorchThreads() == 1 and torch.get_num_threads() == 1
        cpushare.startCase()
        advance(machine, 1.0, ownCores=1.0, otherCores=0.1)  # quiet again: back to the first setting
        assert cpushare.fitTorchThreads() == 2 and torch.get_num_threads() == 2
        advance(machine, 1.0, ownCores=0.0, otherCores=2.0)  # nothing left free: still one thread
        assert cpushare.fitTorchThreads() == 1
        cpushare.setThreadCeiling(1)  # a batch worker's share
        cpushare.startCase()
        advance(machine, 1.0, ownCores=1.0, otherCores=0.0)
        assert cpushare.fitTorchThreads() == 1
    finally:
        torch.set_num_threads(before)


def test_a_real_competing_process_is_seen(monkeypatch):
    if cpushare._machineBusySeconds() is None:
        pytest.skip("no /proc/stat on this system")
    monkeypatch.setattr(cpushare, "_started", None)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    wait = threading.Event().wait  # waiting only: nothing here is timed
    try:
        wait(0.3)
        cpushare.startCase()
        wait(1.0)
        free = cpushare.freeCores()
    finally:
        busy.kill()
        busy.wait()
    # the busy loop takes a whole core (more load on the machine only lowers the figure)
    assert free is not None and free <= cpushare.usableCores() - 0.7
