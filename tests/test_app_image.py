"""The app's image, built by sample_django_app/build.py and run with Docker.

Built on the base the image path chooses: Debian's own python3.11 built here (`source`),
or python:3.11-slim-bookworm (`public`).
"""

import socket
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_fixed

from images import engine, workloads
from images.pins import ROOT
from sample_django_app.build import HERE, build_image, download_wheels, image_tag
from sample_django_app.harness import (
    HARDENED_SCRIPT,
    Database,
    Server,
    applied_migrations,
    render_settings,
)

pytest_plugins = ("sample_django_app.pytest_plugin",)

Run = Callable[..., tuple[int, str]]

RELEASE = "v3.1"
SETTINGS = "/var/www/django/my-project/settings.py"  # where the seed's Job mounts its Secret


@pytest.fixture(scope="session")
def base_image(image_path: str) -> str:
    return workloads.python_base() if image_path == "source" else workloads.python_public()


@pytest.fixture(scope="session")
def app_image(base_image: str) -> str:
    return build_image(RELEASE, base_image, image_tag(RELEASE))


@pytest.fixture
def run(app_image: str) -> Run:
    """Run a command in the image to completion: (exit status, output)."""

    def run_in_image(command: list[str], **options: object) -> tuple[int, str]:
        container = engine.client().containers.run(app_image, command, detach=True, **options)
        try:
            status = container.wait(timeout=120)["StatusCode"]
            return status, container.logs().decode()
        finally:
            container.remove(force=True)

    return run_in_image


def test_image_passes_djangos_checks(run: Run) -> None:
    assert run(["python3", "manage.py", "check"]) == (
        0,
        "System check identified no issues (0 silenced).\n",
    )


def test_image_runs_as_non_root_with_bash_and_the_venvs_python3(
    run: Run,
) -> None:
    status, output = run(["/bin/bash", "-c", "id -u; pwd; command -v python3; echo $APP_RELEASE"])
    assert (status, output.split()) == (
        0,
        ["10001", "/var/www/django", "/opt/venv/bin/python3", RELEASE],
    )


def test_image_holds_the_release_and_nothing_of_its_build(
    run: Run,
) -> None:
    # (as root, so that find can look everywhere)
    status, output = run(
        ["/bin/bash", "-c", "find / -xdev \\( -name '*.patch' -o -name 'patch_ng*' \\) -print; "
         "cd /var/www/django && find . -type f | sort"],
        user="root",
    )  # fmt: skip
    assert status == 0
    assert output.split() == [
        "./gunicorn.conf.py",
        "./manage.py",
        "./my-project/bookshop/__init__.py",
        "./my-project/bookshop/apps.py",
        "./my-project/bookshop/defaults.py",
        "./my-project/bookshop/migrations/0001_initial.py",
        "./my-project/bookshop/migrations/0002_book_slug.py",
        "./my-project/bookshop/migrations/0003_fill_book_slugs.py",
        "./my-project/bookshop/migrations/0004_unique_book_slugs.py",
        "./my-project/bookshop/migrations/__init__.py",
        "./my-project/bookshop/models.py",
        "./my-project/bookshop/templates/bookshop/book_list.html",
        "./my-project/bookshop/urls.py",
        "./my-project/bookshop/views.py",
        "./my-project/bookshop/wsgi.py",
        "./my-project/fixtures/books.yaml",
        "./my-project/settings.py",
    ]


def test_a_file_mounted_at_the_seeds_path_is_the_settings(run: Run, tmp_path: Path) -> None:
    # given a settings.py like the Secret's, naming a database only it knows
    secret = Database("db.example", 5432, "from-the-secret", "app", "s3cret")
    settings = tmp_path / "settings.py"
    settings.write_text(render_settings(secret, secret_key="from-the-secret-" + "x" * 40))

    # when it is mounted where the seed's Job mounts it
    status, output = run(
        ["python3", "manage.py", "shell", "--no-imports", "-c",
         "from django.conf import settings; print(settings.DATABASES['default']['NAME'])"],
        volumes={str(settings): {"bind": SETTINGS, "mode": "ro"}},
    )  # fmt: skip

    # then Django runs with it
    assert (status, output) == (0, "from-the-secret\n")


def test_image_migrates_with_the_job_script_and_serves(
    run: Run, app_image: str, app_db: Database
) -> None:
    # given an empty database (the container shares the host's network to reach it)

    # when the Job's hardened script runs in the image
    status, output = run(
        ["/bin/bash", "-c", HARDENED_SCRIPT.read_text()],
        environment=app_db.environment(),
        network_mode="host",
    )

    # then it migrated and loaded the fixtures
    assert status == 0, output
    assert applied_migrations(app_db)[-1] == "0004_unique_book_slugs"

    # and the image's default command serves the release against that schema
    port = _free_port()
    container = engine.client().containers.run(
        app_image,
        detach=True,
        network_mode="host",
        environment={**app_db.environment(), "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{port}"},
    )
    try:
        health = _until_up(Server(f"http://127.0.0.1:{port}", Path("/dev/null")))
    finally:
        container.remove(force=True)
    assert health == (
        200,
        {"release": RELEASE, "migrations": {"bookshop": "0004_unique_book_slugs"}, "pending": []},
    )


def test_image_size_is_reported(app_image: str, capsys: pytest.CaptureFixture[str]) -> None:
    size = engine.client().images.get(app_image).attrs["Size"]
    with capsys.disabled():
        print(f"\n{app_image}: {size / 1e6:.0f} MB")
    assert size < 500e6


def test_the_apps_wheels_download_into_an_empty_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a new machine does first, with this environment's own Python (tox-uv's
    environments come without pip unless the project pins it)."""
    monkeypatch.setenv("ARGOCD_MIGRATION_E2E_CACHE", str(tmp_path))
    wheels = download_wheels()
    assert wheels.is_relative_to(tmp_path)
    names = {wheel.name.split("-")[0].lower() for wheel in wheels.glob("*.whl")}
    assert {"django", "psycopg", "psycopg_binary", "gunicorn", "patch_ng"} <= names, names


def test_build_stage_pins_patch_ng_as_the_harness_does() -> None:
    """The image applies the patches with the same patch-ng the tests applied them with."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    harness = [dep for dep in pyproject["project"]["dependencies"] if dep.startswith("patch-ng")]
    image = [
        line
        for line in (HERE / "build-requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert harness == image == ["patch-ng==1.19.1"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@retry(
    retry=retry_if_exception_type(OSError),
    stop=stop_after_delay(60),
    wait=wait_fixed(0.5),
    reraise=True,
)
def _until_up(server: Server) -> tuple[int, object]:
    return server.get_json("/healthz")
