"""The suite's options and shared fixtures live in the harness plugin."""

pytest_plugins = ("harness.plugin",)
