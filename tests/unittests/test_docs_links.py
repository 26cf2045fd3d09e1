"""Every relative link in the documentation leads somewhere; the README stays short.

Standard library only (no torch), so it runs with any pytest.
"""

import pathlib
import re

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
README_MAX_LINES = 160
EXTERNAL = ("http:", "https:", "mailto:")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*([^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
CODE_SPAN = re.compile(r"`[^`]*`")


def documentation_files():
    """The Markdown files whose links are checked.

    Returns
    -------
    list of pathlib.Path
        README.md, docs/*.md, bench/README.md and every recipe README.
    """
    files = [REPO_ROOT / "README.md", REPO_ROOT / "bench" / "README.md"]
    files += sorted((REPO_ROOT / "docs").glob("*.md"))
    files += sorted((REPO_ROOT / "recipes").glob("**/README.md"))
    return [path for path in files if path.is_file()]


def prose_lines(path):
    """The lines of a Markdown file outside fenced code blocks.

    Parameters
    ----------
    path : pathlib.Path
        The Markdown file.

    Yields
    ------
    tuple of (int, str)
        The 1-based line number and the line.
    """
    fence = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        stripped = line.lstrip()
        if fence is None and stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
        elif fence is not None and stripped.startswith(fence):
            fence = None
        elif fence is None:
            yield number, line


def slug(heading):
    """The anchor GitHub gives a heading.

    Parameters
    ----------
    heading : str
        The heading's text, without the leading ``#``.

    Returns
    -------
    str
        Lowercased, characters other than letters, digits, spaces, hyphens
        and underscores dropped, spaces turned into hyphens.

    Examples
    --------
    >>> slug("The demo's accuracy")
    'the-demos-accuracy'
    """
    kept = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return kept.replace(" ", "-")


def anchors(path):
    """The anchors of every heading of a Markdown file.

    Parameters
    ----------
    path : pathlib.Path
        The Markdown file.

    Returns
    -------
    set of str
        The slug of each heading outside code blocks.
    """
    found = set()
    for _, line in prose_lines(path):
        match = HEADING.match(line)
        if match:
            found.add(slug(match.group(1).replace("`", "")))
    return found


def broken_links(path):
    """The relative links of one file that do not resolve.

    Parameters
    ----------
    path : pathlib.Path
        The Markdown file.

    Returns
    -------
    list of str
        ``file:line: target (why)`` for each broken link.
    """
    broken = []
    for number, line in prose_lines(path):
        for target in LINK.findall(CODE_SPAN.sub("code", line)):
            if target.lower().startswith(EXTERNAL):
                continue
            file_part, _, anchor = target.partition("#")
            resolved = (path.parent / file_part).resolve() if file_part else path
            where = f"{path.relative_to(REPO_ROOT)}:{number}: {target}"
            if not resolved.exists():
                broken.append(f"{where} (no such file)")
            elif (
                anchor and resolved.suffix == ".md" and anchor not in anchors(resolved)
            ):
                broken.append(f"{where} (no heading with that anchor)")
    return broken


def test_slug_of_hand_written_headings():
    """Headings turn into the anchors GitHub makes of them."""
    assert slug("Use a trained model") == "use-a-trained-model"
    assert slug("Speed and memory (CPU)") == "speed-and-memory-cpu"
    assert slug("The demo: SoundFont notes, no download") == (
        "the-demo-soundfont-notes-no-download"
    )


def test_every_relative_link_resolves():
    """Each relative link or image names an existing file and, if any, heading."""
    files = documentation_files()
    assert REPO_ROOT / "README.md" in files
    broken = [entry for path in files for entry in broken_links(path)]
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_readme_is_short():
    """The README stays a page a newcomer reads, not a lab notebook."""
    lines = (REPO_ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines; move detail to docs/ or bench/README.md"
    )
