"""The write side of the exit-code contract, through the real CLI: outputs refuse links,
special files, folders where files go (and back), the current folder and a file on the way;
they get the user's umask; OS errors (full disk, read-only, permissions, long names) end in
exit 2 naming the path, with nothing half-written left; a concurrent writer of the same OUT
loses with exit 2; temporary folders of killed writers are removed by the next write."""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from snnc.cli import main
from snnc.ir import output_files
from snnc.ir.output_files import atomic_write_bytes, output_lock, write_folder

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "examples/digits/digits_cnn.keras"  # has spiking layers, for verify's tier 2
TINY = """graph @tiny(dt=0.001) {
  %input_1 = nn.input() : f32[3]
  %dense = nn.dense(%input_1) {weight=<f32[3,2] [[0.03,-0.42],[0.74,-0.86],[-0.23,-0.69]]>, bias=<f32[2] [0.0,0.0]>} : f32[2]
  %dense.output = nn.output(%dense) : f32[2]
}
"""
DEAD_PID = 999_999_999  # above any pid_max: no such process
ROOT_USER = os.geteuid() == 0  # root writes through permission bits


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A fresh current folder holding ``tiny.snnir`` (compiles in well under a second)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.snnir").write_text(TINY)
    return tmp_path


def refused(capsys, argv, *words) -> str:
    """Run the CLI, expect exit 2 with a message (no traceback) holding ``words``."""
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"snnc {argv[0]}: error: " in err, err
    for w in words:
        assert str(w) in err, err
    return err


def hidden(folder: Path) -> list[str]:
    """Dot-files left in ``folder`` (temporaries, locks)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


# =============================================================================== files


def special_files(work: Path) -> dict[str, tuple[Path, str]]:
    """What sits at a file destination -> (path, words of the refusal)."""
    (work / "target.txt").write_text("keep")
    (work / "link.txt").symlink_to(work / "target.txt")
    (work / "dangling.txt").symlink_to(work / "nowhere.txt")
    os.mkfifo(work / "fifo")
    (work / "folder").mkdir()
    return {
        "symlink": (work / "link.txt", "is a symbolic link"),
        "dangling symlink": (work / "dangling.txt", "is a symbolic link"),
        "fifo": (work / "fifo", "is a FIFO"),
        "device": (Path(os.devnull), "is a character device"),
        "folder": (work / "folder", "is a folder (expected a file name)"),
        "file on the way": (work / "tiny.snnir" / "sub.txt", "tiny.snnir is not a folder"),
    }


def untouched(work: Path) -> None:
    assert (work / "target.txt").read_text() == "keep"
    assert os.readlink(work / "link.txt") == str(work / "target.txt")
    assert not (work / "nowhere.txt").exists()
    assert stat.S_ISFIFO(os.lstat(work / "fifo").st_mode)
    assert stat.S_ISCHR(os.lstat(os.devnull).st_mode)
    assert list((work / "folder").iterdir()) == []
    assert hidden(work) == []


@pytest.mark.parametrize(
    "kind", ["symlink", "dangling symlink", "fifo", "device", "folder", "file on the way"]
)
def test_dump_refuses_what_is_not_a_regular_file(work, capsys, kind):
    path, words = special_files(work)[kind]
    err = refused(capsys, ["dump", "tiny.snnir", "-o", path], path, words, "hint: ")
    if kind == "symlink":
        assert "give the path it points to" in err and str(work / "target.txt") in err
    untouched(work)


@pytest.mark.parametrize(
    "argv",
    [
        ["opt", "tiny.snnir", "-p", "canonicalize", "-o", "{}"],
        ["opt", "tiny.snnir", "-p", "canonicalize", "-o", "{}.snnc"],
        ["export", "tiny.snnir", "-o", "{}"],
    ],
    ids=["opt-snnir", "opt-snnc", "export"],
)
def test_every_file_writer_refuses_a_link(work, capsys, argv):
    (work / "target.txt").write_text("keep")
    link = work / "link"
    (work / "link.snnc").symlink_to(work / "target.txt")
    link.symlink_to(work / "target.txt")
    argv = [a.format(link) for a in argv]
    refused(capsys, argv, argv[-1], "is a symbolic link")
    assert (work / "target.txt").read_text() == "keep" and hidden(work) == []


def test_run_verify_sweep_refuse_outputs_before_any_work(work, capsys):
    """The checks run first: a bad output of a long command fails at once, even with inputs
    that would fail later (here: none at all)."""
    special_files(work)
    refused(capsys, ["run", "no-such-out", "-i", "x.npy", "-o", "link.txt"], "link.txt", "symbolic link")
    refused(capsys, ["verify", "m.keras", "--data", "d.npz", "--json", "fifo"], "fifo", "is a FIFO")
    refused(capsys, ["verify", "m.keras", "--data", "d.npz", "--plots", "link.txt"], "link.txt")
    refused(capsys, ["verify", "m.keras", "--data", "d.npz", "--plots", "tiny.snnir"], "not a folder")
    refused(capsys, ["sweep", "m.keras", "--data", "d.npz", "--json", "folder"], "is a folder")
    refused(capsys, ["sweep", "m.keras", "--data", "d.npz", "--plot", os.devnull], "character device")
    refused(capsys, ["opt", "tiny.snnir", "--dump-dir", "link.txt"], "symbolic link")
    refused(capsys, ["opt", "tiny.snnir", "--dump-dir", "target.txt"], "is not a folder")
    untouched(work)


def test_a_regular_file_is_replaced_whole_with_the_umask(work, capsys):
    (work / "old.snnir").write_text("old")
    os.chmod(work / "old.snnir", 0o600)
    old = os.umask(0o027)
    try:
        assert main(["dump", "tiny.snnir", "-o", "old.snnir"]) == 0
        assert main(["dump", "tiny.snnir", "-o", "new/sub/x.snnir"]) == 0
    finally:
        os.umask(old)
    assert (work / "old.snnir").read_text().startswith("graph @tiny")
    assert mode(work / "old.snnir") == 0o640  # a replaced file gets the umask too
    assert mode(work / "new") == mode(work / "new/sub") == 0o750
    assert mode(work / "new/sub/x.snnir") == 0o640
    assert hidden(work) == [] and hidden(work / "new/sub") == []


# =============================================================================== folders


def test_compile_refuses_links_files_and_the_current_folder(work, capsys, monkeypatch):
    special_files(work)
    (work / "real").mkdir()
    (work / "linked").symlink_to(work / "real")
    cases = [
        ("linked", "is a symbolic link", "give the path it points to"),
        ("target.txt", "exists and is not a folder"),
        ("fifo", "is a FIFO"),
        (os.devnull, "is a character device"),
        ("tiny.snnir/sub", "tiny.snnir is not a folder"),
        (".", "is the current folder or contains it", "give a folder inside it"),
    ]
    for out, *words in cases:
        refused(capsys, ["compile", "tiny.snnir", "-o", out, "-q", "--force"], out, *words)
    assert list((work / "real").iterdir()) == []
    untouched(work)
    (work / "sub").mkdir()
    monkeypatch.chdir(work / "sub")
    for out in ("..", "../sub", str(work), "/"):
        refused(capsys, ["compile", "../tiny.snnir", "-o", out, "-q", "-f"], "is the current folder")
    assert sorted(p.name for p in work.iterdir()) == sorted(
        ["dangling.txt", "fifo", "folder", "link.txt", "linked", "real", "sub", "target.txt", "tiny.snnir"]
    )


def test_compile_writes_with_the_umask_and_leaves_nothing_else(work, capsys):
    old = os.umask(0o027)
    try:
        assert main(["compile", "tiny.snnir", "-o", "deep/out", "-q"]) == 0
    finally:
        os.umask(old)
    out = work / "deep/out"
    assert mode(work / "deep") == mode(out) == 0o750
    files = sorted(p.name for p in out.iterdir())
    assert files == ["manifest.json", "model.snnc", "network.py", "report.txt", "weights.npz"]
    assert {f: mode(out / f) for f in files} == dict.fromkeys(files, 0o640)
    assert hidden(work / "deep") == []  # no temporary, no lock
    refused(capsys, ["compile", "tiny.snnir", "-o", "deep/out", "-q"], "deep/out", "not empty", "--force")


def test_temporary_names_are_refused_as_out(work, capsys):
    name = f".out.snnc-tmp-{DEAD_PID}-abcdefgh"
    refused(capsys, ["compile", "tiny.snnir", "-o", name, "-q"], name, "temporary folder of snnc")


def test_opt_dump_dir_gets_the_umask(work, capsys):
    old = os.umask(0o077)
    try:
        assert main(["opt", "tiny.snnir", "-p", "canonicalize", "--dump-dir", "dumps", "-q"]) == 0
    finally:
        os.umask(old)
    capsys.readouterr()
    dumps = sorted((work / "dumps").iterdir())
    assert mode(work / "dumps") == 0o700 and dumps
    assert {mode(p) for p in dumps} == {0o600} and hidden(work / "dumps") == []


def test_sweep_json_and_plot_get_the_umask(work, capsys):
    rng = np.random.default_rng(0)
    np.savez(work / "d.npz", x=rng.normal(size=(6, 3)).astype("f4"), y=np.arange(6) % 2)
    old = os.umask(0o027)
    try:
        argv = ["sweep", "tiny.snnir", "--data", "d.npz", "--workers", "0", "--no-cache"]
        argv += ["--steps", "2", "--act-bits", "32", "--json", "s/s.json", "--plot", "s/s.png", "-q"]
        assert main(argv) == 0
    finally:
        os.umask(old)
    assert json.loads((work / "s/s.json").read_text())["points"]
    assert (work / "s/s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert mode(work / "s") == 0o750
    assert mode(work / "s/s.json") == mode(work / "s/s.png") == 0o640 and hidden(work / "s") == []


def test_verify_json_and_plots_get_the_umask(work, capsys, digits_split):
    np.save(work / "x.npy", digits_split[2][:4])
    np.save(work / "y.npy", digits_split[3][:4])
    old = os.umask(0o027)
    try:
        argv = ["verify", DIGITS, "--input", "x.npy", "--labels", "y.npy", "--steps", "2"]
        rc = main([str(a) for a in argv + ["--json", "v/v.json", "--plots", "v/plots", "-q"]])
    finally:
        os.umask(old)
    assert rc in (0, 1), capsys.readouterr().err  # 1: tier 1 out of tolerance, still written
    plots = sorted((work / "v/plots").iterdir())
    assert [p.name for p in plots] == ["accuracy_vs_steps.png", "layers.png"]
    assert mode(work / "v") == mode(work / "v/plots") == 0o750
    assert {mode(p) for p in [*plots, work / "v/v.json"]} == {0o640}
    assert hidden(work / "v") == [] and hidden(work / "v/plots") == []


# =============================================================================== OS errors


class FullDisk:
    """A file object whose writes fail with ENOSPC (``os.fdopen`` of the temporary)."""

    def __init__(self, fd, *args, **kwargs):
        self.fd = fd

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        os.close(self.fd)

    def fileno(self):
        return self.fd

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_is_exit_2_and_leaves_the_old_file(work, capsys, monkeypatch):
    (work / "x.snnir").write_text("old")
    monkeypatch.setattr(output_files.os, "fdopen", FullDisk)
    refused(capsys, ["dump", "tiny.snnir", "-o", "x.snnir"], "x.snnir", "No space left on device", "free some space")
    assert (work / "x.snnir").read_text() == "old" and hidden(work) == []


def test_a_full_disk_during_compile_leaves_no_half_artifact(work, capsys, monkeypatch):
    def full(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))

    monkeypatch.setattr(Path, "write_bytes", full)
    refused(capsys, ["compile", "tiny.snnir", "-o", "out", "-q"], "out: cannot write it", "No space left")
    assert not (work / "out").exists() and hidden(work) == []


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.EACCES, "Permission denied"),
        (errno.EROFS, "Read-only file system"),
        (errno.EDQUOT, "quota"),
    ],
)
def test_os_errors_creating_the_temporary_are_exit_2(work, capsys, monkeypatch, code, words):
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code), str(work))

    monkeypatch.setattr(output_files.tempfile, "mkstemp", fail)
    refused(capsys, ["dump", "tiny.snnir", "-o", "x.snnir"], "x.snnir: cannot write it", words)
    monkeypatch.setattr(output_files.tempfile, "mkdtemp", fail)
    refused(capsys, ["compile", "tiny.snnir", "-o", "out", "-q"], "out: cannot write it", words)
    assert not (work / "out").exists() and hidden(work) == []


def test_a_read_only_file_system_is_refused_before_any_work(work, capsys, monkeypatch):
    """``os.access`` says no and ``statvfs`` says read-only: the message says which."""
    monkeypatch.setattr(output_files.os, "access", lambda *a, **k: False)
    real_statvfs = os.statvfs

    class ReadOnly:
        def __init__(self, path):
            self.f_flag = real_statvfs(path).f_flag | os.ST_RDONLY

    monkeypatch.setattr(output_files.os, "statvfs", ReadOnly)
    refused(capsys, ["compile", "tiny.snnir", "-o", "out", "-q"], "Read-only file system", "write somewhere else")
    refused(capsys, ["sweep", "tiny.snnir", "--data", "d.npz", "--json", "s.json"], "s.json", "Read-only")


@pytest.mark.skipif(ROOT_USER, reason="root writes into read-only folders")
def test_a_read_only_folder_is_exit_2(work, capsys):
    (work / "ro").mkdir()
    os.chmod(work / "ro", 0o555)
    try:
        refused(capsys, ["dump", "tiny.snnir", "-o", "ro/x.snnir"], "ro/x.snnir", "Permission denied")
        refused(capsys, ["compile", "tiny.snnir", "-o", "ro/out", "-q"], "ro/out", "Permission denied")
    finally:
        os.chmod(work / "ro", 0o755)
    assert list((work / "ro").iterdir()) == []


def test_too_long_names_are_exit_2(work, capsys):
    long = "n" * 300
    refused(capsys, ["dump", "tiny.snnir", "-o", long], "File name too long", "shorter")
    refused(capsys, ["compile", "tiny.snnir", "-o", long, "-q"], "File name too long")
    # a name that fits, whose temporaries would not: they are shortened
    fits = "m" * 250
    assert main(["compile", "tiny.snnir", "-o", fits, "-q"]) == 0
    assert main(["dump", "tiny.snnir", "-o", "f" * 255]) == 0
    assert hidden(work) == []


def test_a_folder_appearing_at_the_file_is_exit_2(work, monkeypatch):
    """The race behind the checks: the rename meets a folder, and the temporary goes."""
    monkeypatch.setattr(output_files, "check_output_file", Path)
    (work / "x").mkdir()
    with pytest.raises(output_files.OutputError, match="x: cannot write it") as e:
        atomic_write_bytes(work / "x", b"data")
    assert isinstance(e.value, OSError) and e.value.errno == errno.EISDIR
    assert hidden(work) == []


def test_cli_maps_an_unwrapped_os_error_on_an_output_only(work, capsys, monkeypatch):
    import snnc.commands.common as common

    def write_text(text, output):
        raise OSError(errno.EIO, os.strerror(errno.EIO), f"{output}")

    monkeypatch.setattr(common, "write_text", write_text)
    refused(capsys, ["dump", "tiny.snnir", "-o", "x.snnir"], "x.snnir: cannot write it", "Input/output error")

    def elsewhere(text, output):
        raise OSError(errno.EIO, os.strerror(errno.EIO), "/some/other/file")

    monkeypatch.setattr(common, "write_text", elsewhere)
    with pytest.raises(OSError, match="other/file"):  # a bug's OSError stays a traceback
        main(["dump", "tiny.snnir", "-o", "x.snnir"])


# =============================================================================== concurrency


def test_a_second_writer_of_the_same_out_loses(work, capsys):
    with output_lock(work / "out") as lock:
        assert lock == work / ".out.lock"
        refused(capsys, ["compile", "tiny.snnir", "-o", "out", "-q"], "out", "another snnc is writing it")
        assert not (work / "out").exists()
    assert hidden(work) == []  # the lock file goes with its holder
    assert main(["compile", "tiny.snnir", "-o", "out", "-q"]) == 0


def test_out_written_meanwhile_is_not_replaced(work, capsys, monkeypatch):
    """OUT was missing when compile started; another compile wrote it before this one saves."""
    import snnc.api

    compile_model = snnc.api.compile

    def compile_and_race(*args, **kwargs):
        compiled = compile_model(*args, **kwargs)
        compiled.save(work / "out")  # the other writer, finishing first
        (work / "out" / "theirs.txt").write_text("theirs")
        return compiled

    monkeypatch.setattr(snnc.api, "compile", compile_and_race)
    refused(capsys, ["compile", "tiny.snnir", "-o", "out", "-q"], "out: folder exists and is not empty")
    assert (work / "out/theirs.txt").read_text() == "theirs" and hidden(work) == []


def test_out_created_by_another_program_during_the_write_is_kept(work, capsys, monkeypatch):
    from snnc.codegen.emit import NengoNetwork

    write = NengoNetwork.write

    def write_and_race(self, folder):
        write(self, folder)
        (work / "out").mkdir()
        (work / "out" / "theirs.txt").write_text("theirs")

    monkeypatch.setattr(NengoNetwork, "write", write_and_race)
    refused(capsys, ["compile", "tiny.snnir", "-o", "out", "-q"], "out: appeared while snnc was writing it")
    assert [p.name for p in (work / "out").iterdir()] == ["theirs.txt"] and hidden(work) == []


def test_two_concurrent_compiles_one_wins(work):
    """Real processes: exactly one succeeds; the other exits 2 (locked, or OUT not empty)."""
    cmd = [sys.executable, "-m", "snnc", "compile", "tiny.snnir", "-o", "out", "-q"]
    procs = [subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, cwd=work) for _ in range(2)]
    results = [(p.communicate(timeout=120)[1], p.returncode)[::-1] for p in procs]
    assert sorted(rc for rc, _ in results) == [0, 2], results
    loser = next(err for rc, err in results if rc == 2)
    assert "another snnc is writing it" in loser or "not empty" in loser, loser
    assert "Traceback" not in loser and hidden(work) == []


# =============================================================================== stale temporaries


def test_a_killed_writer_leaves_nothing_the_next_one_keeps(work, capsys):
    code = (
        "import os, signal, sys\n"
        "from snnc.ir.output_files import write_folder\n"
        "with write_folder('out') as tmp:\n"
        "    (tmp / 'model.snnc').write_bytes(b'half')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=work, capture_output=True, text=True)
    assert r.returncode == -9, r.stderr
    left = hidden(work)
    assert ".out.lock" in left and any(n.startswith(".out.snnc-tmp-") for n in left)
    assert not (work / "out").exists()  # the half folder was never published
    assert main(["compile", "tiny.snnir", "-o", "out", "-q"]) == 0
    assert hidden(work) == [] and (work / "out/model.snnc").read_bytes() != b"half"


def test_only_stale_temporaries_of_this_out_are_removed(work, capsys):
    def temp(name, age=0.0):
        (work / name).mkdir()
        (work / name / "model.snnc").write_text("half")
        when = time.time() - age
        os.utime(work / name, (when, when))
        return name

    dead = temp(f".out.snnc-tmp-{DEAD_PID}-abcdefgh")
    old = temp(f".out.snnc-old-{DEAD_PID}-a1b2c3d_")
    alive_old = temp(f".out.snnc-tmp-{os.getpid()}-zzzzzzzz", age=2 * output_files.STALE_SECONDS)
    alive = temp(f".out.snnc-tmp-{os.getpid()}-yyyyyyyy")  # a live writer's (with an old snnc)
    other = temp(f".out.x.snnc-tmp-{DEAD_PID}-abcdefgh")  # another OUT's ("out.x")
    lookalike = temp(f".out.snnc-tmp-{DEAD_PID}-abcdefghi")  # not a name snnc makes
    (work / f".out.snnc-tmp-{DEAD_PID}-filefile").write_text("a file, not a folder")
    assert main(["compile", "tiny.snnir", "-o", "out", "-q"]) == 0
    left = set(hidden(work))
    assert not {dead, old, alive_old} & left
    assert {alive, other, lookalike, f".out.snnc-tmp-{DEAD_PID}-filefile"} <= left
    assert (work / "out/model.snnc").read_bytes() != b"half"


def test_write_folder_removes_its_temporary_on_failure(work):
    with pytest.raises(ZeroDivisionError), write_folder(work / "out") as tmp:
        (tmp / "a").write_text("a")
        1 / 0  # noqa: B018
    assert not (work / "out").exists() and hidden(work) == []
