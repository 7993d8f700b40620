"""Persistence: the SQLAlchemy tables and migrations, and the Store API over them."""
