"""Materialize one release of the sample app: the v1.0 tree plus the patches up to it.

    python3 apply.py <release> <dest-dir>

Each release is one small diff on the one before (quilt style: `series` lists the patches
in order), so a reader sees exactly what each release changed. The patches are `git diff`
output, applied with patch-ng. patch-ng strips git's a/ and b/ prefixes itself and, for a
file the patch creates, strips them again when told to (`strip=1` puts new files one
directory too high), so they are applied with strip=0; `git apply` and `patch -p1` read
the same files.
"""

import contextlib
import shutil
import sys
from pathlib import Path

import patch_ng

HERE = Path(__file__).resolve().parent
BASE_TREE = HERE.parent / "app"
BASE_RELEASE = "v1.0"


class ReleaseError(Exception):
    """An unknown release, a destination in the way, or a patch that does not apply."""


def series() -> list[Path]:
    """The patches in the order they apply (quilt's `series`: one per line, # comments)."""
    lines = (line.split("#", 1)[0].strip() for line in (HERE / "series").read_text().splitlines())
    return [HERE / line for line in lines if line]


def releases() -> list[str]:
    return [BASE_RELEASE, *(patch.stem for patch in series())]


def materialize(release: str, dest: Path) -> Path:
    """Write `release`'s tree to `dest` (absent or empty) and return it."""
    known = releases()
    if release not in known:
        raise ReleaseError(f"unknown release {release!r}; known: {', '.join(known)}")
    dest = dest.resolve()
    if dest.exists() and any(dest.iterdir()):
        raise ReleaseError(f"{dest} is not empty")
    shutil.copytree(BASE_TREE, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    for patch in series()[: known.index(release)]:
        apply_patch(patch, dest)
    return dest


def apply_patch(patch: Path, tree: Path) -> None:
    patchset = patch_ng.fromfile(str(patch))
    if not patchset:
        raise ReleaseError(f"{patch.name}: not a patch patch-ng can parse")
    # apply() resolves paths against the working directory (and changes it when given root=).
    with contextlib.chdir(tree):
        if not patchset.apply(strip=0):
            raise ReleaseError(f"{patch.name} does not apply to {tree}")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        known = ", ".join(releases())
        print(f"usage: apply.py <release> <dest-dir>  (releases: {known})", file=sys.stderr)
        return 2
    try:
        materialize(argv[0], Path(argv[1]))
    except ReleaseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
