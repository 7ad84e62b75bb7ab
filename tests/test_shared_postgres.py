"""A scenario's database on the shared server is named after its namespace, and back."""

from e2e.shared_postgres import PREFIX, name_for, namespace_of


def test_a_namespace_and_its_database_name_map_both_ways() -> None:
    namespace = "e2e-first-deploy-migrates-be-3f9c1a"

    name = name_for(namespace)

    assert name == "e2e_first_deploy_migrates_be_3f9c1a"
    assert namespace_of(name) == namespace


def test_every_name_is_a_plain_postgres_identifier_of_ours() -> None:
    name = name_for("e2e-" + "a" * 24 + "-abcdef")

    assert name.startswith(PREFIX) and len(name) <= 63
    assert name.replace("_", "").isalnum()
