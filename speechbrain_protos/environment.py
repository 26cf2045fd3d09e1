"""Whether the compiled dependencies load together, and what to do when not.

torch, torchaudio and numba ship compiled libraries that only load beside
matching releases of each other: torchaudio 2.11.1, for one, needs a symbol
that torch 2.11 and 2.12 lack, although its metadata accepts them. A broken
pair fails deep inside an import with a linker message; this module turns that
into one paragraph that names the versions found and the way out.

``import speechbrain_protos`` checks torch and torchaudio (the pair every
module needs). ``python -m speechbrain_protos check`` checks every compiled
dependency and is the first step of ``make test``.

Example
-------
>>> from speechbrain_protos.environment import check_imports, found_versions
>>> check_imports(("torch", "torchaudio"))
>>> sorted(found_versions(("torch", "torchaudio")))
['torch', 'torchaudio']
"""

import importlib
import importlib.metadata
import re
import sys

DISTRIBUTION = "speechbrain-protos"
# Imported by `import speechbrain_protos`: every module needs them.
CORE_IMPORTS = ("torch", "torchaudio")
# Checked by `python -m speechbrain_protos check` (make setup, make test).
COMPILED_IMPORTS = ("torch", "torchaudio", "speechbrain", "numba")


class DependencyError(ImportError):
    """A dependency is missing, or installed but does not import."""


def found_versions(names):
    """Installed version of each distribution, without importing it.

    Parameters
    ----------
    names : iterable of str
        Distribution names.

    Returns
    -------
    dict
        Name to version string, or ``"not installed"``.

    Example
    -------
    >>> found_versions(["no-such-distribution-here"])
    {'no-such-distribution-here': 'not installed'}
    """
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _version_list(names):
    """``"torch 2.14.1, torchaudio 2.11.1"``: each name with its version."""
    return ", ".join(f"{key} {value}" for key, value in found_versions(names).items())


def declared_ranges(names):
    """The version ranges this package declares for ``names``.

    Read from the installed package's metadata, so that pyproject.toml stays
    the one place that states them.

    Parameters
    ----------
    names : iterable of str
        Distribution names.

    Returns
    -------
    dict
        Name to its requirement string (e.g. ``"torch>=2.13,<2.16"``); empty
        when this package is not installed (run from a bare checkout).
    """
    try:
        requirements = importlib.metadata.requires(DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        return {}
    wanted = {name.lower() for name in names}
    ranges = {}
    for requirement in requirements:
        if "extra ==" in requirement:
            continue
        name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower()
        if name in wanted:
            ranges[name] = requirement.split(";")[0].replace(" ", "")
    return ranges


def explain_failure(name, error, names=COMPILED_IMPORTS):
    """One paragraph on why ``name`` did not import and what to do.

    Parameters
    ----------
    name : str
        The module that failed to import.
    error : BaseException
        What the import raised.
    names : iterable of str
        The dependencies whose versions the paragraph lists.

    Returns
    -------
    str

    Example
    -------
    >>> text = explain_failure("torchaudio", OSError("undefined symbol: x"))
    >>> text.startswith("speechbrain-protos cannot import torchaudio")
    True
    """
    reason = next(iter(str(error).strip().splitlines()), "")
    ranges = declared_ranges(names)
    wanted = (
        "; this package needs " + ", ".join(ranges.values())
        if ranges
        else "; pyproject.toml lists the versions this package needs"
    )
    return (
        f"speechbrain-protos cannot import {name} "
        f"({type(error).__name__}: {reason}). Found: {_version_list(names)}{wanted}. "
        "torch, torchaudio and numba ship compiled libraries that load only "
        "beside matching releases (torchaudio 2.11.1 needs torch 2.13 or "
        "newer, although its metadata accepts 2.11), so pip can install a "
        "pair that does not load. To fix it in a checkout of this project, "
        "rebuild the virtualenv from the tested set: `make clean setup`. In "
        "your own environment, install the tested set with "
        "`pip install -c requirements/lock.txt <this package>`, or reinstall "
        "torch and torchaudio together within the ranges above."
    )


def check_imports(names=COMPILED_IMPORTS):
    """Import each module, raising one clear error for the first that fails.

    Parameters
    ----------
    names : iterable of str
        Module names, imported in order.

    Raises
    ------
    DependencyError
        Naming the module, the error, the versions found and what to do.
    """
    names = tuple(names)
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as error:
            # A library that fails to load raises OSError, a missing symbol
            # in an extension ImportError, a broken package anything.
            raise DependencyError(explain_failure(name, error, names)) from None


def describe():
    """One line: the version of each compiled dependency and of Python.

    Example
    -------
    >>> describe().startswith("torch ")
    True
    """
    return f"{_version_list(COMPILED_IMPORTS)} (Python {sys.version.split()[0]})"
