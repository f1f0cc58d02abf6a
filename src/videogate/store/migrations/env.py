"""Alembic environment: migrations run on a connection the gateway hands in."""

from __future__ import annotations

from alembic import context

from videogate.store.models import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `videogate db upgrade` (videogate.store.db)")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
