"""Users and addresses as the accounts database exports them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Address:
    street: str
    city: str
    postcode: str
    country: str


@dataclass
class User:
    id: int
    first_name: str
    last_name: str
    email: str
    address: Address | None = None

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()
