"""The source path's Debian base: debootstrap checks what it downloads with Debian's keys,
on any host (Ubuntu's debootstrap defaults to Ubuntu's keyring)."""

import subprocess
import urllib.request
from pathlib import Path

from images import debian
from images.pins import pins


def test_debootstrap_is_given_debians_keyring() -> None:
    command = debian.debootstrap_command()
    assert Path(command[0]).name == "debootstrap"
    assert command[1:] == [f"--keyring={debian.KEYRING}"]
    assert debian.KEYRING.is_file()


def test_that_keyring_verifies_the_suites_release_file(tmp_path: Path) -> None:
    """What debootstrap checks first: the suite's InRelease, signed by Debian's keys."""
    suite, mirror = pins()["debian"]["suite"], pins()["debian"]["mirror"]
    release = tmp_path / "InRelease"
    with urllib.request.urlopen(f"{mirror}/dists/{suite}/InRelease", timeout=60) as response:
        release.write_bytes(response.read())
    checked = subprocess.run(
        ["gpgv", "--keyring", str(debian.KEYRING), str(release)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    assert "Good signature" in checked.stderr
