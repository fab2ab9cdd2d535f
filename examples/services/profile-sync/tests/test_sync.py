import json
from pathlib import Path

from profile_sync.crm import CRMClient
from profile_sync.store import UserStore
from profile_sync.worker import sync

RECORDS = [
    {"id": 2, "first_name": "Bo", "last_name": "Li", "email": "bo@example.com",
     "address": {"street": "2 Main St", "city": "Leeds", "postcode": "LS1", "country": "GB"}},
    {"id": 1, "first_name": "Ana", "last_name": "Silva", "email": "ana@example.com",
     "address": {"street": "1 Rue X", "city": "Lyon", "postcode": "69001", "country": "FR"}},
]


def test_users_sorted_by_id() -> None:
    assert [u.id for u in UserStore(RECORDS).users()] == [1, 2]


def test_missing_address_is_none() -> None:
    store = UserStore([{"id": 3, "first_name": "C", "last_name": "D", "email": "c@d"}])
    assert store.get_address(3) is None


def test_sync_writes_one_file_per_user(tmp_path: Path) -> None:
    count = sync(UserStore(RECORDS), CRMClient(str(tmp_path)))
    assert count == 2
    assert json.loads((tmp_path / "u-1.json").read_text())["name"] == "Ana Silva"
