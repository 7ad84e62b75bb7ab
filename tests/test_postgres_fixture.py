"""The test database is a real PostgreSQL with transactional DDL, which v3.0 relies on."""

import psycopg


def test_ddl_rolls_back_with_the_transaction(postgresql: psycopg.Connection) -> None:
    with postgresql.cursor() as cur:
        cur.execute("CREATE TABLE t (id int)")
    postgresql.rollback()
    with postgresql.cursor() as cur:
        cur.execute("SELECT to_regclass('t')")
        assert cur.fetchone() == (None,)
