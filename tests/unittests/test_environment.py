"""The import check: a broken torch/torchaudio pair gives one clear paragraph."""

import importlib
import os
import subprocess
import sys

import pytest

from speechbrain_protos import environment

pytestmark = pytest.mark.smoke

LINKER_ERROR = (
    "Could not load this library: .../torchaudio/lib/libtorchaudio.so "
    "(undefined symbol: torch_exception_get_what_without_backtrace)"
)


class _BrokenTorchaudio:
    """An import hook that fails torchaudio as its linker does."""

    def find_spec(self, name, path=None, target=None):
        if name == "torchaudio" or name.startswith("torchaudio."):
            raise OSError(LINKER_ERROR)
        return None


def forget(monkeypatch, package):
    """Drop a package and its submodules from sys.modules for one test."""
    for name in list(sys.modules):
        if name == package or name.startswith(package + "."):
            monkeypatch.delitem(sys.modules, name)


@pytest.fixture
def broken_torchaudio(monkeypatch):
    """`import torchaudio` fails as it does beside a torch it was not built for."""
    forget(monkeypatch, "torchaudio")
    monkeypatch.setattr(sys, "meta_path", [_BrokenTorchaudio(), *sys.meta_path])


def test_import_with_a_broken_torchaudio_names_the_versions_found(
    broken_torchaudio, monkeypatch
):
    """Re-importing the package raises one paragraph, not a linker traceback."""
    forget(monkeypatch, "speechbrain_protos")
    # The fresh import defines its own DependencyError class.
    with pytest.raises(ImportError) as caught:
        importlib.import_module("speechbrain_protos")
    assert type(caught.value).__name__ == "DependencyError"
    message = str(caught.value)
    assert "\n" not in message, "one paragraph"
    assert message.startswith("speechbrain-protos cannot import torchaudio (OSError")
    assert "torch_exception_get_what_without_backtrace" in message
    versions = environment.found_versions(["torch", "torchaudio"])
    assert f"torch {versions['torch']}" in message
    assert f"torchaudio {versions['torchaudio']}" in message
    assert "make clean setup" in message
    assert "requirements/lock.txt" in message
    # The ranges come from the installed package's metadata (pyproject.toml).
    for requirement in environment.declared_ranges(["torch", "torchaudio"]).values():
        assert requirement in message
    # No chained linker traceback: the paragraph says it all.
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_declared_ranges_are_pyproject_s():
    """The ranges quoted to the user are the installed package's own."""
    ranges = environment.declared_ranges(["torch", "torchaudio", "numba"])
    assert set(ranges) == {"torch", "torchaudio", "numba"}
    for name, requirement in ranges.items():
        assert requirement.startswith(name) and ">=" in requirement, requirement


def test_check_imports_passes_and_reports_a_missing_module():
    """Working modules pass; a missing one is named with what was found."""
    environment.check_imports(environment.COMPILED_IMPORTS)
    with pytest.raises(environment.DependencyError, match="cannot import no_such_mod"):
        environment.check_imports(["torch", "no_such_mod"])


def test_command_line_check_succeeds_and_prints_versions():
    """`python -m speechbrain_protos check` (make test's first step)."""
    result = subprocess.run(
        [sys.executable, "-m", "speechbrain_protos", "check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("dependencies import: ")
    for name, version in environment.found_versions(
        environment.COMPILED_IMPORTS
    ).items():
        assert f"{name} {version}" in result.stdout
    assert "RuntimeWarning" not in result.stderr


def test_command_line_check_names_a_broken_dependency(monkeypatch, capsys):
    """A dependency that fails is one line on stderr and exit code 1."""
    from speechbrain_protos import __main__ as cli

    monkeypatch.setattr(
        cli, "COMPILED_IMPORTS", ("torch", "numba", "no_such_module_here")
    )
    assert cli.main(["check"]) == 1
    error = capsys.readouterr().err
    assert error.startswith(
        "error: speechbrain-protos cannot import no_such_module_here"
    )
    assert error.count("\n") == 1


@pytest.mark.parametrize("chosen, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_openmp_threads_sleep_unless_the_user_chose(chosen, expected):
    """Importing the package sets OMP_WAIT_POLICY=PASSIVE before torch
    loads its OpenMP runtime; a policy in the environment wins."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if chosen:
        env["OMP_WAIT_POLICY"] = chosen
    code = (
        "import os, sys, speechbrain_protos;"
        "print(os.environ['OMP_WAIT_POLICY'], 'torch' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == [expected, "True"]
