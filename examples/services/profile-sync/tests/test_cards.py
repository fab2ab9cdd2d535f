from profile_sync.cards import profile_card
from profile_sync.models import Address, User

USER = User(7, "Ana", "Silva", " Ana.Silva@Example.com ",
            Address("1 Rue X", "Lyon", "69001", "FR"))


def test_card_fields() -> None:
    card = profile_card(USER)
    assert card["external_id"] == "u-7"
    assert card["name"] == "Ana Silva"


def test_email_is_normalised() -> None:
    assert profile_card(USER)["email"] == "ana.silva@example.com"


def test_card_has_city() -> None:
    assert profile_card(USER)["city"] == "Lyon"
