"""The suite's pytest plugin: options shared by tests/ and e2e/, and where things are."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
