"""Options shared by the fast tests (tests/) and the end-to-end suite (e2e/).

Each option is a CLI flag and an ini key of the same name; the CLI wins, then the
ini file, then the default (pytest-postgresql's pattern), merged once into `Options`.
"""

from dataclasses import dataclass
from pathlib import Path

import pytest

from images.registry import resolve_image_path

OPTIONS: dict[str, tuple[str, str]] = {
    # name: (default, help)
    "images": (
        "auto",
        "where images come from: public (pull), source (build here from pinned sources), "
        "auto (public when a registry answers, else source)",
    ),
}


@dataclass(frozen=True)
class Options:
    images: str


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("argocd-migration-e2e")
    for name, (default, help_text) in OPTIONS.items():
        flag = "--" + name.replace("_", "-")
        group.addoption(flag, dest=name, default=None, help=f"{help_text} [default: {default}]")
        parser.addini(name, help_text, default=default)


def read_options(config: pytest.Config) -> Options:
    def value(name: str) -> str:
        cli = config.getoption(name)
        return cli if cli is not None else config.getini(name)

    return Options(**{name: value(name) for name in OPTIONS})


def pytest_configure(config: pytest.Config) -> None:
    options = read_options(config)
    if options.images not in ("auto", "public", "source"):
        raise pytest.UsageError(f"--images must be auto, public or source, not {options.images!r}")
    config.stash[OPTIONS_KEY] = options


OPTIONS_KEY = pytest.StashKey[Options]()
ROOT = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def options(pytestconfig: pytest.Config) -> Options:
    return pytestconfig.stash[OPTIONS_KEY]


@pytest.fixture(scope="session")
def image_path(options: Options) -> str:
    """`public` or `source`, decided once per session (with a notice when auto-detected)."""
    path, notice = resolve_image_path(options.images)
    if notice:
        print(f"\nnotice: {notice}")
    return path
