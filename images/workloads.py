"""The images the manifests run besides Argo CD and kind: Postgres and the app's base."""

from images.dockerfiles import dockerfile_image
from images.pins import pins


def postgres() -> str:
    major = pins()["workloads"]["postgres_major"]
    return dockerfile_image("postgres", major, buildargs={"PG_MAJOR": major})


def python_base() -> str:
    return dockerfile_image("python", "3.11-bookworm")


def builder() -> str:
    return dockerfile_image("builder", "bookworm")


def git_server() -> str:
    return dockerfile_image("gitserver", "bookworm")
