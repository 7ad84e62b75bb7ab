"""`python -m images build [TARGET ...]`: build (or find cached) every image of the source path.

Exits non-zero with one line naming the failed step and its log.
"""

import argparse
import sys
import time
from collections.abc import Callable

from images import progress
from images.errors import as_command


def targets(argocd_version: str | None) -> dict[str, Callable[[], object]]:
    from images import argocd, argocd_refs, kind_node, session, workloads
    from images.pins import pins

    version = argocd_refs.release(argocd_version or pins()["argocd"]["default"]).version
    upgrade_from = argocd_refs.upgrade_from(version, "source")
    return {
        "node": kind_node.node_image,
        "kind": kind_node.kind_binary,
        "postgres": workloads.postgres,
        "python": workloads.python_base,
        "gitserver": workloads.git_server,
        "argocd": lambda: argocd.images(version),
        "preload": lambda: session.preloaded_node(
            kind_node.node_image(), session.build(True, version, upgrade_from)
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m images", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build what is missing, reuse what is cached")
    build.add_argument(
        "target",
        nargs="*",
        help="node, kind, postgres, python, gitserver, argocd, preload (the node image "
        "holding every image of an e2e session); default: all",
    )
    build.add_argument(
        "--argocd-version",
        help="an Argo CD release pinned in versions.toml, or any release, branch or commit "
        "the Go module proxy resolves",
    )
    args = parser.parse_args(argv)

    def build_chosen() -> int:
        available = targets(args.argocd_version)
        chosen = args.target or list(available)
        unknown = [t for t in chosen if t not in available]
        if unknown:
            parser.error(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(available)}")
        for index, name in enumerate(chosen, 1):
            started = time.monotonic()
            with progress.target(index, len(chosen), name):
                result = available[name]()
            print(f"{name}: {result} ({time.monotonic() - started:.0f}s)", flush=True)
        return 0

    return as_command(build_chosen)


if __name__ == "__main__":
    sys.exit(main())
