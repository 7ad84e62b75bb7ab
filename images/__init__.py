"""Build every image the suite needs from pinned sources (the `source` path).

Nothing here is needed by users who can pull public images; on machines with no
registry (air-gapped CI, ours) this builds kind's node image, Argo CD, Postgres,
the Python base and the Git server from Go modules, Debian packages and PyPI,
caching each result under a label that records the recipe it came from.
"""

from images.errors import BuildError

__all__ = ["BuildError"]
