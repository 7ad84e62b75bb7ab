"""End-to-end proof of the PreSync migration hook on a real kind cluster with Argo CD."""
