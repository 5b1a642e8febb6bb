"""The Piccolo table classes describe the schema the migrations build, column for column.

The hub queries with SQL (hub.platform.db) and the migrations are the schema's source of
truth; the table classes are its typed description for Piccolo's tooling and for readers.
This test keeps that description true: every table the migrations create has a class, every
class names a real table, and each class has exactly the table's columns with the same
nullability and type family.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import asyncpg
from piccolo.columns import (
    JSON,
    JSONB,
    UUID,
    Array,
    BigInt,
    BigSerial,
    Boolean,
    Bytea,
    Char,
    Date,
    DoublePrecision,
    Float,
    ForeignKey,
    Integer,
    Interval,
    Numeric,
    Serial,
    SmallInt,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

ROOT = Path(__file__).resolve().parent.parent

# Columns Piccolo has no type for, left out of the classes on purpose.
NOT_DESCRIBED = {
    ("prompts", "search"): "tsvector kept by the prompts' search trigger",
}

# Piccolo column class -> the PostgreSQL types (information_schema.data_type) it stands for.
FAMILIES: dict[type, set[str]] = {
    UUID: {"uuid"},
    BigInt: {"bigint"},
    BigSerial: {"bigint"},
    Integer: {"integer"},
    Serial: {"integer"},
    SmallInt: {"smallint"},
    Boolean: {"boolean"},
    Text: {"text"},
    Varchar: {"character varying"},
    Timestamptz: {"timestamp with time zone"},
    Date: {"date"},
    JSONB: {"jsonb"},
    JSON: {"json"},
    Bytea: {"bytea"},
    Numeric: {"numeric"},
    Float: {"real"},
    DoublePrecision: {"double precision"},
    Interval: {"interval"},
    Char: {"character"},
    Array: {"ARRAY"},
}


def app_configs() -> list[Any]:
    """Every hub/<domain>/piccolo_app.py, each also listed in piccolo_conf's registry."""
    conf = (ROOT / "piccolo_conf.py").read_text()
    configs = []
    for path in sorted(ROOT.glob("hub/*/piccolo_app.py")):
        module = f"hub.{path.parent.name}.piccolo_app"
        assert f'"{module}"' in conf, f"{module} is not in piccolo_conf.APP_REGISTRY"
        configs.append(importlib.import_module(module).APP_CONFIG)
    return configs


def family(column: Any) -> set[str]:
    if isinstance(column, ForeignKey):
        return family(column._foreign_key_meta.resolved_target_column)
    for cls in type(column).__mro__:
        if cls in FAMILIES:
            return FAMILIES[cls]
    raise AssertionError(f"no type family for {type(column).__name__}")


async def test_every_table_has_a_class_with_its_columns(hub_server, database_url):
    classes: dict[str, type[Table]] = {}
    for config in app_configs():
        for table in config.table_classes:
            name = table._meta.tablename
            assert name not in classes, f"{name} is described twice"
            classes[name] = table
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT c.table_name, c.column_name, c.is_nullable, c.data_type "
            "FROM information_schema.columns c JOIN information_schema.tables t "
            "USING (table_schema, table_name) "
            "WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' "
            "AND c.table_name <> 'migration'"
        )
        keys = await conn.fetch(
            "SELECT tc.table_name, count(*) AS n FROM information_schema.table_constraints tc "
            "JOIN information_schema.key_column_usage k USING (constraint_schema, constraint_name) "
            "WHERE tc.table_schema = 'public' AND tc.constraint_type = 'PRIMARY KEY' "
            "GROUP BY tc.table_name"
        )
    finally:
        await conn.close()
    schema: dict[str, dict[str, tuple[bool, str]]] = {}
    for r in rows:
        if (r["table_name"], r["column_name"]) in NOT_DESCRIBED:
            continue
        schema.setdefault(r["table_name"], {})[r["column_name"]] = (
            r["is_nullable"] == "YES",
            r["data_type"],
        )
    key_width = {r["table_name"]: r["n"] for r in keys}

    problems = [f"{name}: no class" for name in sorted(set(schema) - set(classes))]
    problems += [f"{name}: no table" for name in sorted(set(classes) - set(schema))]
    for name, table in sorted(classes.items()):
        if name not in schema:
            continue
        columns = {c._meta.db_column_name: c for c in table._meta.columns}
        if "id" in columns and "id" not in schema[name]:
            # Piccolo gives a class without a primary key column an implicit `id`; that is
            # right only for a table whose key spans several columns (Piccolo cannot say so).
            assert table._meta.primary_key._meta.name == "id"
            assert key_width.get(name, 0) > 1, f"{name}: implicit id, but no composite key"
            del columns["id"]
        if set(columns) != set(schema[name]):
            problems.append(
                f"{name}: missing {sorted(set(schema[name]) - set(columns))}, "
                f"extra {sorted(set(columns) - set(schema[name]))}"
            )
            continue
        for col_name, column in columns.items():
            nullable, data_type = schema[name][col_name]
            is_key = column._meta.primary_key
            if not is_key and column._meta.null != nullable:
                problems.append(f"{name}.{col_name}: null={column._meta.null}, db {nullable}")
            if data_type not in family(column):
                problems.append(f"{name}.{col_name}: {type(column).__name__}, db {data_type}")
    assert problems == [], "\n".join(problems)


def test_no_column_shadows_a_table_method():
    """A column named like a Table method (`ref`, `select`, ...) replaces it on the class."""
    for config in app_configs():
        for table in config.table_classes:
            for column in table._meta.columns:
                attr = column._meta.name
                assert not re.match(r"^_", attr)
                assert not callable(getattr(Table, attr, None)), f"{table.__name__}.{attr}"
