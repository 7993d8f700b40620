"""Ownership rules without a server: which user and session ids a caller may act on, with and without a login."""

import pytest

from recsys.core.errors import RecsysError, SessionNotFound
from recsys.storage.store import Store
from recsys.web.accounts import LOGIN_PREFIX, MINTED_ID, own_session, owner_of, user_for


@pytest.fixture
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'accounts.db'}")
    yield s
    s.close()


def test_without_a_login_only_a_minted_existing_id_is_reused(store):
    minted = store.ensure_user()
    assert MINTED_ID.fullmatch(minted) and owner_of(store, minted, None) == minted
    assert owner_of(store, "alice", None) is None  # not one we minted
    assert owner_of(store, "A" * 22, None) is None  # minted shape, but nobody has it
    assert owner_of(store, minted, "bob") == LOGIN_PREFIX + "bob"  # a login wins over what the client sends


def test_a_login_sees_only_its_own_sessions_and_user_id(store):
    alices = store.create_session(store.ensure_user(LOGIN_PREFIX + "alice"))
    assert own_session(store, alices, "alice").session_id == alices
    assert own_session(store, alices, None).session_id == alices  # without a login the id is the key
    with pytest.raises(SessionNotFound):
        own_session(store, alices, "bob")  # someone else's reads as missing
    assert user_for("", "alice") == user_for("alice", "alice") == LOGIN_PREFIX + "alice"
    with pytest.raises(RecsysError):
        user_for(LOGIN_PREFIX + "bob", "alice")
    assert user_for("anyone", None) == "anyone" and user_for(42, None) == ""
