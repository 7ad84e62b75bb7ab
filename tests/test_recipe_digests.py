"""An image is rebuilt when what it is made from changes, and only then: the file digests
in its recipe are remembered between sessions, so a change must still show."""

import os
import time
from pathlib import Path

import pytest

from images import engine


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARGOCD_MIGRATION_E2E_CACHE", str(tmp_path / "cache"))


def written_a_minute_ago(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    a_minute_ago = time.time_ns() - 60 * 10**9
    os.utime(path, ns=(a_minute_ago, a_minute_ago))
    return path


def remembered(tmp_path: Path) -> list[Path]:
    return list((tmp_path / "cache" / "file-digests").iterdir())


def test_the_same_files_give_the_same_digest_remembered_or_not(tmp_path: Path) -> None:
    binary = written_a_minute_ago(tmp_path / "kubelet", b"\x7fELF" * 1000)
    first = engine.digest_files([binary])
    assert len(remembered(tmp_path)) == 1
    assert engine.digest_files([binary]) == first
    twin = written_a_minute_ago(tmp_path / "twin" / "kubelet", b"\x7fELF" * 1000)
    assert engine.digest_files([twin]) == first, "content and name, not where it lies"


def test_a_file_written_just_now_is_not_remembered(tmp_path: Path) -> None:
    """Written again within the same clock tick, its size and mtime would not change."""
    binary = tmp_path / "kubelet"
    binary.write_bytes(b"v1.37.1")
    before = engine.digest_files([binary])
    assert not (tmp_path / "cache" / "file-digests").exists() or remembered(tmp_path) == []
    binary.write_bytes(b"v1.37.2")
    assert engine.digest_files([binary]) != before


def test_a_rebuilt_binary_changes_the_remembered_digest(tmp_path: Path) -> None:
    binary = written_a_minute_ago(tmp_path / "kubelet", b"v1.37.1")
    before = engine.digest_files([binary])
    binary.write_bytes(b"v1.37.2")  # the same size, the same inode: the mtime tells
    assert engine.digest_files([binary]) != before


def test_a_file_replaced_by_another_changes_the_digest(tmp_path: Path) -> None:
    binary = written_a_minute_ago(tmp_path / "kubelet", b"old")
    before = engine.digest_files([binary])
    replacement = written_a_minute_ago(tmp_path / "new", b"new")
    replacement.replace(binary)  # an older mtime, another inode
    assert engine.digest_files([binary]) != before
