"""Holdout cases for the crash shapes of issue 9, written before the work that should make them pass.

Each stands for one way a crash is hard to reproduce or to localise: the bad value comes from
a caller, the input needs particular characters or several calls to build, the code is reached
only through a callback or an HTTP route, the project needs an old Python or declares its
dependencies only in ``setup.py``, its test command names one file or leaves out a test that
hangs. A few are crashes where declining is the right answer.
"""

from __future__ import annotations

from holdout_cases import Case
from holdout_cases import dedent as _d

CASES: list[Case] = [
    # ------------------------------------------------------------------ the bad value comes from a caller
    Case(
        name="caller-swapped-arguments",
        shape="argument passed in the wrong position by a caller",
        expected="type_mismatch",
        good={
            "receipts/__init__.py": "",
            "receipts/money.py": _d('''
                """Amounts as printed on receipts."""


                def format_amount(amount: float, currency: str) -> str:
                    return f"{amount:,.2f} {currency}"
            '''),
            "receipts/receipt.py": _d('''
                """The footer of a printed receipt."""

                from receipts.money import format_amount


                def footer(order: dict) -> str:
                    total = sum(line["price"] * line["qty"] for line in order["lines"])
                    return "TOTAL " + format_amount(total, order["currency"])
            '''),
            "tests/test_money.py": _d('''
                from receipts.money import format_amount


                def test_two_decimals():
                    assert format_amount(3.5, "EUR") == "3.50 EUR"


                def test_thousands():
                    assert format_amount(1234.5, "USD") == "1,234.50 USD"
            '''),
        },
        bug={
            "receipts/receipt.py": _d('''
                """The footer of a printed receipt."""

                from receipts.money import format_amount


                def footer(order: dict) -> str:
                    total = sum(line["price"] * line["qty"] for line in order["lines"])
                    return "TOTAL " + format_amount(order["currency"], total)
            '''),
        },
        trigger=(
            "from receipts.receipt import footer\n"
            "print(footer({'currency': 'EUR', 'lines': [{'price': 2.5, 'qty': 2}]}))"
        ),
        prefix="/srv/receipts",
        style="k8s",
        context=['INFO printing receipt {"currency": "EUR", "lines": [{"price": 2.5, "qty": 2}]}'],
    ),
    Case(
        name="none-returned-upstream",
        shape="None created by an upstream function, dereferenced two calls later",
        expected="none_dereference",
        good={
            "accounts/__init__.py": "",
            "accounts/directory.py": _d('''
                """Who a user is, from the account directory."""

                from dataclasses import dataclass


                @dataclass
                class Profile:
                    user_id: str
                    display_name: str


                GUEST = Profile("guest", "Guest")


                def lookup(users: dict, user_id: str) -> Profile:
                    row = users.get(user_id)
                    if row is None:
                        return GUEST
                    return Profile(user_id, row["name"])
            '''),
            "accounts/greeting.py": _d('''
                """The greeting at the top of the dashboard."""

                from accounts.directory import Profile, lookup


                def banner(profile: Profile) -> str:
                    return f"Welcome back, {profile.display_name.split()[0]}!"


                def greet(users: dict, user_id: str) -> str:
                    return banner(lookup(users, user_id))
            '''),
            "tests/test_greeting.py": _d('''
                from accounts.greeting import greet


                def test_known_user():
                    assert greet({"u1": {"name": "Ada Lovelace"}}, "u1") == "Welcome back, Ada!"


                def test_single_name():
                    assert greet({"u2": {"name": "Plato"}}, "u2") == "Welcome back, Plato!"
            '''),
        },
        bug={
            "accounts/directory.py": _d('''
                """Who a user is, from the account directory."""

                from dataclasses import dataclass


                @dataclass
                class Profile:
                    user_id: str
                    display_name: str


                def lookup(users: dict, user_id: str) -> Profile | None:
                    row = users.get(user_id)
                    if row is None:
                        return None
                    return Profile(user_id, row["name"])
            '''),
        },
        trigger="from accounts.greeting import greet\nprint(greet({'u1': {'name': 'Ada Lovelace'}}, 'u-9f2'))",
        style="json",
        context=['{"level": "info", "msg": "dashboard", "user_id": "u-9f2"}'],
    ),
    Case(
        name="attribute-set-on-some-paths",
        shape="attribute assigned only on one branch of __init__, read by a later method",
        expected="missing_attribute",
        good={
            "transport/__init__.py": "",
            "transport/client.py": _d('''
                """Settings of an outgoing HTTP client, from its URL."""


                class Client:
                    def __init__(self, url: str) -> None:
                        self.url = url
                        self.timeout = 10.0
                        if url.startswith("https://"):
                            self.verify = True
                            self.timeout = 30.0
                        else:
                            self.verify = False

                    def describe(self) -> str:
                        scheme = "tls" if self.verify else "plain"
                        return f"{self.url} ({scheme}, {self.timeout:.0f}s)"
            '''),
            "tests/test_client.py": _d('''
                from transport.client import Client


                def test_https():
                    assert Client("https://api.example").describe() == "https://api.example (tls, 30s)"


                def test_verify_flag():
                    assert Client("https://x").verify is True
            '''),
        },
        bug={
            "transport/client.py": _d('''
                """Settings of an outgoing HTTP client, from its URL."""


                class Client:
                    def __init__(self, url: str) -> None:
                        self.url = url
                        if url.startswith("https://"):
                            self.verify = True
                            self.timeout = 30.0
                        else:
                            self.verify = False

                    def describe(self) -> str:
                        scheme = "tls" if self.verify else "plain"
                        return f"{self.url} ({scheme}, {self.timeout:.0f}s)"
            '''),
        },
        trigger="from transport.client import Client\nprint(Client('http://legacy.internal:8080').describe())",
        prefix="/srv/gateway",
        style="bracket",
        context=["INFO upstream configured url=http://legacy.internal:8080"],
    ),
    Case(
        name="keyword-renamed-in-callee",
        shape="a keyword argument renamed in the callee but not at its caller in another module",
        expected="type_mismatch",
        good={
            "mail/__init__.py": "",
            "mail/outbox.py": _d('''
                """Queue an outgoing message."""


                def enqueue(queue: list, to: str, subject: str) -> int:
                    queue.append({"to": to, "subject": subject})
                    return len(queue)
            '''),
            "mail/reminders.py": _d('''
                """Payment reminders."""

                from mail.outbox import enqueue


                def remind(queue: list, customer: dict) -> int:
                    return enqueue(queue, to=customer["email"], subject=f"Invoice {customer['invoice']} is due")
            '''),
            "tests/test_outbox.py": _d('''
                from mail.outbox import enqueue


                def test_enqueue():
                    q: list = []
                    assert enqueue(q, "a@example.com", "hi") == 1
                    assert q == [{"to": "a@example.com", "subject": "hi"}]
            '''),
        },
        bug={
            "mail/outbox.py": _d('''
                """Queue an outgoing message."""


                def enqueue(queue: list, recipient: str, subject: str) -> int:
                    queue.append({"to": recipient, "subject": subject})
                    return len(queue)
            '''),
        },
        trigger=(
            "from mail.reminders import remind\n"
            "print(remind([], {'email': 'billing@example.com', 'invoice': 'INV-204'}))"
        ),
        style="plain",
        context=["INFO reminder run: 1 invoice overdue"],
    ),
    # ------------------------------------------------------------------ inputs that are hard to synthesise
    Case(
        name="closure-sort-key-none",
        shape="crash inside a closure passed as a callback (sorted key)",
        expected="none_dereference",
        good={
            "directory/__init__.py": "",
            "directory/listing.py": _d('''
                """Sorted listings for the staff directory."""


                def by_field(name: str):
                    def key(record: dict) -> str:
                        return (record.get(name) or "").casefold()
                    return key


                def listing(records: list[dict], field: str) -> list[str]:
                    return [r["id"] for r in sorted(records, key=by_field(field))]
            '''),
            "tests/test_listing.py": _d('''
                from directory.listing import listing


                def test_sorted_by_surname():
                    rows = [{"id": "b", "surname": "Zed"}, {"id": "a", "surname": "adams"}]
                    assert listing(rows, "surname") == ["a", "b"]


                def test_single():
                    assert listing([{"id": "x", "surname": "Q"}], "surname") == ["x"]
            '''),
        },
        bug={
            "directory/listing.py": _d('''
                """Sorted listings for the staff directory."""


                def by_field(name: str):
                    def key(record: dict) -> str:
                        return record.get(name).casefold()
                    return key


                def listing(records: list[dict], field: str) -> list[str]:
                    return [r["id"] for r in sorted(records, key=by_field(field))]
            '''),
        },
        trigger=(
            "from directory.listing import listing\n"
            "print(listing([{'id': 'e1', 'surname': 'Okafor'}, {'id': 'e2', 'team': 'ops'}], 'surname'))"
        ),
        prefix="/srv/people",
        style="k8s",
    ),
    Case(
        name="event-bus-callback-key",
        shape="crash in a handler reached only through an event bus's registered callbacks",
        expected="missing_key",
        good={
            "events/__init__.py": "",
            "events/bus.py": _d('''
                """A tiny in-process event bus."""

                from collections import defaultdict
                from typing import Callable

                _handlers: dict[str, list[Callable[[dict], object]]] = defaultdict(list)


                def on(topic: str):
                    def register(fn):
                        _handlers[topic].append(fn)
                        return fn
                    return register


                def emit(topic: str, event: dict) -> list:
                    return [fn(event) for fn in _handlers[topic]]
            '''),
            "events/loyalty.py": _d('''
                """Loyalty points, awarded when an order is paid."""

                from events.bus import on


                @on("order.paid")
                def award_points(event: dict) -> int:
                    return int(event["amount_cents"]) // 100
            '''),
            "events/checkout.py": _d('''
                """The end of checkout."""

                import events.loyalty  # noqa: F401  (registers its handlers)
                from events.bus import emit


                def paid(order_id: str, amount_cents: int) -> list:
                    return emit("order.paid", {"order": order_id, "amount_cents": amount_cents})
            '''),
            "tests/test_loyalty.py": _d('''
                from events.loyalty import award_points


                def test_points():
                    assert award_points({"order": "o1", "amount_cents": 2599}) == 25


                def test_small_amount():
                    assert award_points({"order": "o2", "amount_cents": 99}) == 0
            '''),
        },
        bug={
            "events/checkout.py": _d('''
                """The end of checkout."""

                import events.loyalty  # noqa: F401  (registers its handlers)
                from events.bus import emit


                def paid(order_id: str, amount_cents: int) -> list:
                    return emit("order.paid", {"order": order_id, "amount": amount_cents})
            '''),
        },
        trigger="from events.checkout import paid\nprint(paid('o-5531', 4200))",
        style="json",
        context=['{"level": "info", "msg": "payment captured", "order": "o-5531", "amount_cents": 4200}'],
    ),
    Case(
        name="builder-coupon-none",
        shape="method of an object built in several steps (add items, apply coupon, total)",
        expected="none_dereference",
        good={
            "checkout/__init__.py": "",
            "checkout/basket.py": _d('''
                """A basket is filled, maybe discounted, then totalled."""

                COUPONS = {"WELCOME10": 0.10, "VIP25": 0.25}


                class Basket:
                    def __init__(self) -> None:
                        self.items: list[tuple[str, int, float]] = []
                        self.discount = 0.0

                    def add(self, sku: str, qty: int, price: float) -> "Basket":
                        self.items.append((sku, qty, price))
                        return self

                    def apply_coupon(self, code: str) -> "Basket":
                        self.discount = COUPONS.get(code.upper(), 0.0)
                        return self

                    def total(self) -> float:
                        subtotal = sum(qty * price for _, qty, price in self.items)
                        return round(subtotal * (1 - self.discount), 2)
            '''),
            "tests/test_basket.py": _d('''
                from checkout.basket import Basket


                def test_plain_total():
                    assert Basket().add("a", 2, 5.0).total() == 10.0


                def test_coupon():
                    assert Basket().add("a", 1, 100.0).apply_coupon("vip25").total() == 75.0
            '''),
        },
        bug={
            "checkout/basket.py": _d('''
                """A basket is filled, maybe discounted, then totalled."""

                COUPONS = {"WELCOME10": 0.10, "VIP25": 0.25}


                class Basket:
                    def __init__(self) -> None:
                        self.items: list[tuple[str, int, float]] = []
                        self.discount = 0.0

                    def add(self, sku: str, qty: int, price: float) -> "Basket":
                        self.items.append((sku, qty, price))
                        return self

                    def apply_coupon(self, code: str) -> "Basket":
                        self.discount = COUPONS.get(code.upper())
                        return self

                    def total(self) -> float:
                        subtotal = sum(qty * price for _, qty, price in self.items)
                        return round(subtotal * (1 - self.discount), 2)
            '''),
        },
        trigger=(
            "from checkout.basket import Basket\n"
            "b = Basket().add('mug', 2, 8.5).add('tea', 1, 4.0)\n"
            "b.apply_coupon('SPRING5')\n"
            "print(b.total())"
        ),
        prefix="/srv/checkout",
        style="plain",
        context=["INFO basket b-771 coupon=SPRING5 items=2"],
    ),
    Case(
        name="cookie-value-with-equals",
        shape="a string with a particular character (base64 padding '=' inside a value)",
        expected="value_parse_error",
        good={
            "web/__init__.py": "",
            "web/cookies.py": _d('''
                """Parse a Cookie header."""


                def parse_cookies(header: str) -> dict[str, str]:
                    jar = {}
                    for part in header.split(";"):
                        if not part.strip():
                            continue
                        name, value = part.strip().split("=", 1)
                        jar[name] = value
                    return jar
            '''),
            "tests/test_cookies.py": _d('''
                from web.cookies import parse_cookies


                def test_two():
                    assert parse_cookies("a=1; b=2") == {"a": "1", "b": "2"}


                def test_trailing_semicolon():
                    assert parse_cookies("lang=en;") == {"lang": "en"}
            '''),
        },
        bug={
            "web/cookies.py": _d('''
                """Parse a Cookie header."""


                def parse_cookies(header: str) -> dict[str, str]:
                    jar = {}
                    for part in header.split(";"):
                        if not part.strip():
                            continue
                        name, value = part.strip().split("=")
                        jar[name] = value
                    return jar
            '''),
        },
        trigger="from web.cookies import parse_cookies\nprint(parse_cookies('lang=en; session=dXNlcj00Mg=='))",
        prefix="/app",
        style="bracket",
    ),
    Case(
        name="csv-quoted-comma",
        shape="a string with a particular character (a quoted comma inside a CSV field)",
        expected="value_parse_error",
        good={
            "suppliers/__init__.py": "",
            "suppliers/importer.py": _d('''
                """Supplier price lists, one CSV line at a time."""

                import csv


                def parse_line(line: str) -> tuple[str, str, float]:
                    sku, name, price = next(csv.reader([line]))
                    return sku, name, float(price)
            '''),
            "tests/test_importer.py": _d('''
                from suppliers.importer import parse_line


                def test_plain():
                    assert parse_line("A1,Bolt,0.25") == ("A1", "Bolt", 0.25)


                def test_spaces_in_name():
                    assert parse_line("B2,Hex nut,0.1")[1] == "Hex nut"
            '''),
        },
        bug={
            "suppliers/importer.py": _d('''
                """Supplier price lists, one CSV line at a time."""


                def parse_line(line: str) -> tuple[str, str, float]:
                    parts = line.split(",")
                    return parts[0], parts[1], float(parts[2])
            '''),
        },
        trigger=(
            "from suppliers.importer import parse_line\n"
            "print(parse_line('C7,\"Washer, zinc\",0.05'))"
        ),
        prefix="/srv/suppliers",
        style="json",
        context=['{"level": "info", "msg": "line", "line": "C7,\\"Washer, zinc\\",0.05", "file": "acme.csv"}'],
    ),
    Case(
        name="enum-value-case",
        shape="an upstream string in a different letter case than the Enum's values",
        expected="value_parse_error",
        good={
            "shipping/__init__.py": "",
            "shipping/status.py": _d('''
                """Parcel states as the carrier reports them."""

                from enum import Enum


                class State(Enum):
                    PENDING = "pending"
                    IN_TRANSIT = "in_transit"
                    DELIVERED = "delivered"


                def parse_state(raw: str) -> State:
                    return State(raw.strip().lower())


                def is_done(raw: str) -> bool:
                    return parse_state(raw) is State.DELIVERED
            '''),
            "tests/test_status.py": _d('''
                from shipping.status import State, is_done, parse_state


                def test_parse():
                    assert parse_state("pending") is State.PENDING


                def test_done():
                    assert is_done("delivered")
            '''),
        },
        bug={
            "shipping/status.py": _d('''
                """Parcel states as the carrier reports them."""

                from enum import Enum


                class State(Enum):
                    PENDING = "pending"
                    IN_TRANSIT = "in_transit"
                    DELIVERED = "delivered"


                def parse_state(raw: str) -> State:
                    return State(raw.strip())


                def is_done(raw: str) -> bool:
                    return parse_state(raw) is State.DELIVERED
            '''),
        },
        trigger="from shipping.status import is_done\nprint(is_done('DELIVERED'))",
        style="k8s",
        context=['INFO carrier webhook {"parcel": "P-33", "state": "DELIVERED"}'],
    ),
    Case(
        name="generator-blank-line",
        shape="crash inside a generator, raised while a caller consumes it",
        expected="value_parse_error",
        good={
            "meter/__init__.py": "",
            "meter/readings.py": _d('''
                """Meter readings uploaded as text, one number a line."""


                def readings(text: str):
                    for line in text.splitlines():
                        if line.strip():
                            yield int(line)


                def total_kwh(text: str) -> int:
                    return sum(readings(text))
            '''),
            "tests/test_readings.py": _d('''
                from meter.readings import total_kwh


                def test_total():
                    assert total_kwh("1\\n2\\n3") == 6


                def test_one():
                    assert total_kwh("42") == 42
            '''),
        },
        bug={
            "meter/readings.py": _d('''
                """Meter readings uploaded as text, one number a line."""


                def readings(text: str):
                    for line in text.splitlines():
                        yield int(line)


                def total_kwh(text: str) -> int:
                    return sum(readings(text))
            '''),
        },
        trigger="from meter.readings import total_kwh\nprint(total_kwh('12\\n\\n7\\n'))",
        prefix="/opt/meter",
        style="plain",
    ),
    Case(
        name="property-optional-field",
        shape="a property reading an optional constructor field left as None",
        expected="none_dereference",
        good={
            "members/__init__.py": "",
            "members/member.py": _d('''
                """Club members."""

                from dataclasses import dataclass
                from datetime import date


                @dataclass
                class Member:
                    name: str
                    joined: date | None = None

                    @property
                    def years(self) -> int:
                        if self.joined is None:
                            return 0
                        return date(2026, 11, 5).year - self.joined.year


                def badge(m: Member) -> str:
                    return f"{m.name} ({m.years}y)"
            '''),
            "tests/test_member.py": _d('''
                from datetime import date

                from members.member import Member, badge


                def test_badge():
                    assert badge(Member("Ann", date(2020, 1, 1))) == "Ann (6y)"


                def test_years():
                    assert Member("Bo", date(2026, 3, 1)).years == 0
            '''),
        },
        bug={
            "members/member.py": _d('''
                """Club members."""

                from dataclasses import dataclass
                from datetime import date


                @dataclass
                class Member:
                    name: str
                    joined: date | None = None

                    @property
                    def years(self) -> int:
                        return date(2026, 11, 5).year - self.joined.year


                def badge(m: Member) -> str:
                    return f"{m.name} ({m.years}y)"
            '''),
        },
        trigger="from members.member import Member, badge\nprint(badge(Member('Chidi')))",
        style="bracket",
    ),
    Case(
        name="lru-cache-list-argument",
        shape="a decorator added around a function its callers pass unhashable values to",
        expected="type_mismatch",
        good={
            "tax/__init__.py": "",
            "tax/rates.py": _d('''
                """Tax for a basket of product categories."""

                RATES = {"food": 0.07, "books": 0.0, "other": 0.19}


                def combined_rate(categories: list[str]) -> float:
                    return max((RATES.get(c, RATES["other"]) for c in categories), default=0.0)
            '''),
            "tax/basket.py": _d('''
                """Tax owed on a basket."""

                from tax.rates import combined_rate


                def basket_tax(items: list[dict]) -> float:
                    net = sum(i["price"] for i in items)
                    return round(net * combined_rate([i["category"] for i in items]), 2)
            '''),
            "tests/test_rates.py": _d('''
                from tax.rates import combined_rate


                def test_highest():
                    assert combined_rate(["food", "other"]) == 0.19


                def test_empty():
                    assert combined_rate([]) == 0.0
            '''),
        },
        bug={
            "tax/rates.py": _d('''
                """Tax for a basket of product categories."""

                from functools import lru_cache

                RATES = {"food": 0.07, "books": 0.0, "other": 0.19}


                @lru_cache(maxsize=256)
                def combined_rate(categories: tuple[str, ...]) -> float:
                    return max((RATES.get(c, RATES["other"]) for c in categories), default=0.0)
            '''),
            "tests/test_rates.py": _d('''
                from tax.rates import combined_rate


                def test_highest():
                    assert combined_rate(("food", "other")) == 0.19


                def test_empty():
                    assert combined_rate(()) == 0.0
            '''),
        },
        trigger=(
            "from tax.basket import basket_tax\n"
            "print(basket_tax([{'price': 4.0, 'category': 'food'}, {'price': 12.0, 'category': 'books'}]))"
        ),
        prefix="/srv/tax",
        style="k8s",
    ),
    # ------------------------------------------------------------------ lines with several subscripts
    Case(
        name="multi-subscript-config-chain",
        shape="a line with several subscripts; the failing one is in the middle",
        expected="missing_key",
        good={
            "deploy/__init__.py": "",
            "deploy/plan.py": _d('''
                """How many replicas each region runs."""


                def replicas(cfg: dict, region: str) -> int:
                    tier = cfg["regions"][region]["tier"]
                    return cfg["tiers"].get(tier, {}).get("replicas", 1)
            '''),
            "tests/test_plan.py": _d('''
                from deploy.plan import replicas

                CFG = {"regions": {"eu": {"tier": "large"}}, "tiers": {"large": {"replicas": 6}}}


                def test_large():
                    assert replicas(CFG, "eu") == 6


                def test_unknown_tier():
                    cfg = {"regions": {"us": {"tier": "tiny"}}, "tiers": {}}
                    assert replicas(cfg, "us") == 1
            '''),
        },
        bug={
            "deploy/plan.py": _d('''
                """How many replicas each region runs."""


                def replicas(cfg: dict, region: str) -> int:
                    return cfg["tiers"][cfg["regions"][region]["tier"]]["replicas"]
            '''),
            "tests/test_plan.py": _d('''
                from deploy.plan import replicas

                CFG = {"regions": {"eu": {"tier": "large"}}, "tiers": {"large": {"replicas": 6}}}


                def test_large():
                    assert replicas(CFG, "eu") == 6
            '''),
        },
        trigger=(
            "from deploy.plan import replicas\n"
            "cfg = {'regions': {'eu': {'tier': 'large'}, 'ap': {'tier': 'medium'}},"
            " 'tiers': {'large': {'replicas': 6}, 'medium': {'cpu': 2}}}\n"
            "print(replicas(cfg, 'ap'))"
        ),
        style="plain",
        context=["INFO planning rollout for region ap"],
    ),
    Case(
        name="multi-subscript-grid-index",
        shape="a line with several subscripts; the inner index of a nested list is out of range",
        expected="index_out_of_range",
        good={
            "seats/__init__.py": "",
            "seats/map.py": _d('''
                """Seat maps: rows of seats, each row its own length."""


                def seat(layout: list[list[str]], row: int, col: int) -> str:
                    seats = layout[row - 1]
                    if col > len(seats):
                        return "none"
                    return seats[col - 1]
            '''),
            "tests/test_map.py": _d('''
                from seats.map import seat

                LAYOUT = [["A1", "A2"], ["B1", "B2", "B3"]]


                def test_first():
                    assert seat(LAYOUT, 1, 1) == "A1"


                def test_long_row():
                    assert seat(LAYOUT, 2, 3) == "B3"
            '''),
        },
        bug={
            "seats/map.py": _d('''
                """Seat maps: rows of seats, each row its own length."""


                def seat(layout: list[list[str]], row: int, col: int) -> str:
                    return layout[row - 1][col - 1]
            '''),
        },
        trigger="from seats.map import seat\nprint(seat([['A1', 'A2'], ['B1', 'B2', 'B3']], 1, 3))",
        prefix="/srv/tickets",
        style="json",
        context=['{"level": "info", "msg": "seat lookup", "row": 1, "col": 3}'],
    ),
    # ------------------------------------------------------------------ reached only through an HTTP route
    Case(
        name="wsgi-route-query-key",
        shape="a crash reached only through a WSGI app's router (stdlib wsgiref)",
        expected="missing_key",
        good={
            "search/__init__.py": "",
            "search/app.py": _d('''
                """A small WSGI search API."""

                import json
                from urllib.parse import parse_qs

                INDEX = ["apple", "apricot", "banana"]


                def _search(params: dict[str, list[str]]) -> dict:
                    term = params.get("q", [""])[0].lower()
                    return {"hits": [w for w in INDEX if w.startswith(term)]}


                ROUTES = {("GET", "/search"): _search}


                def app(environ, start_response):
                    handler = ROUTES.get((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
                    if handler is None:
                        start_response("404 Not Found", [("Content-Type", "text/plain")])
                        return [b"not found"]
                    body = handler(parse_qs(environ.get("QUERY_STRING", "")))
                    start_response("200 OK", [("Content-Type", "application/json")])
                    return [json.dumps(body).encode()]
            '''),
            "tests/test_app.py": _d('''
                import json
                from wsgiref.util import setup_testing_defaults

                from search.app import app


                def call(path, query=""):
                    environ = {"PATH_INFO": path, "QUERY_STRING": query}
                    setup_testing_defaults(environ)
                    seen = {}
                    body = b"".join(app(environ, lambda status, headers: seen.update(status=status)))
                    return seen["status"], body


                def test_search():
                    status, body = call("/search", "q=ap")
                    assert status == "200 OK" and json.loads(body) == {"hits": ["apple", "apricot"]}


                def test_not_found():
                    assert call("/nope")[0].startswith("404")
            '''),
        },
        bug={
            "search/app.py": _d('''
                """A small WSGI search API."""

                import json
                from urllib.parse import parse_qs

                INDEX = ["apple", "apricot", "banana"]


                def _search(params: dict[str, list[str]]) -> dict:
                    term = params["q"][0].lower()
                    return {"hits": [w for w in INDEX if w.startswith(term)]}


                ROUTES = {("GET", "/search"): _search}


                def app(environ, start_response):
                    handler = ROUTES.get((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
                    if handler is None:
                        start_response("404 Not Found", [("Content-Type", "text/plain")])
                        return [b"not found"]
                    body = handler(parse_qs(environ.get("QUERY_STRING", "")))
                    start_response("200 OK", [("Content-Type", "application/json")])
                    return [json.dumps(body).encode()]
            '''),
        },
        trigger=(
            "from wsgiref.util import setup_testing_defaults\n"
            "from search.app import app\n"
            "environ = {'REQUEST_METHOD': 'GET', 'PATH_INFO': '/search', 'QUERY_STRING': 'limit=5'}\n"
            "setup_testing_defaults(environ)\n"
            "print(b''.join(app(environ, lambda status, headers: None)))"
        ),
        prefix="/srv/search",
        style="plain",
        context=['INFO 10.0.3.7 - - "GET /search?limit=5 HTTP/1.1"'],
    ),
    Case(
        name="wsgi-path-param-int",
        shape="a crash reached only through an HTTP route with a path parameter and a JSON body",
        expected="value_parse_error",
        good={
            "stock/__init__.py": "",
            "stock/api.py": _d('''
                """Stock adjustments over HTTP: POST /items/<sku>/adjust with {"delta": n}."""

                import json
                import re

                LEVELS = {"A-1": 10, "B-2": 0}
                _ADJUST = re.compile(r"^/items/(?P<sku>[^/]+)/adjust$")


                def adjust(sku: str, payload: dict) -> dict:
                    delta = int(float(payload.get("delta", 0)))
                    LEVELS[sku] = LEVELS.get(sku, 0) + delta
                    return {"sku": sku, "level": LEVELS[sku]}


                def app(environ, start_response):
                    match = _ADJUST.match(environ["PATH_INFO"])
                    if environ["REQUEST_METHOD"] != "POST" or match is None:
                        start_response("404 Not Found", [])
                        return [b""]
                    size = int(environ.get("CONTENT_LENGTH") or 0)
                    payload = json.loads(environ["wsgi.input"].read(size) or b"{}")
                    start_response("200 OK", [("Content-Type", "application/json")])
                    return [json.dumps(adjust(match["sku"], payload)).encode()]
            '''),
            "tests/test_api.py": _d('''
                import io
                import json

                from stock.api import app


                def post(path, body):
                    data = json.dumps(body).encode()
                    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "CONTENT_LENGTH": str(len(data)),
                               "wsgi.input": io.BytesIO(data)}
                    return json.loads(b"".join(app(environ, lambda s, h: None)))


                def test_adjust():
                    assert post("/items/C-3/adjust", {"delta": 4}) == {"sku": "C-3", "level": 4}
            '''),
        },
        bug={
            "stock/api.py": _d('''
                """Stock adjustments over HTTP: POST /items/<sku>/adjust with {"delta": n}."""

                import json
                import re

                LEVELS = {"A-1": 10, "B-2": 0}
                _ADJUST = re.compile(r"^/items/(?P<sku>[^/]+)/adjust$")


                def adjust(sku: str, payload: dict) -> dict:
                    delta = int(payload.get("delta", 0))
                    LEVELS[sku] = LEVELS.get(sku, 0) + delta
                    return {"sku": sku, "level": LEVELS[sku]}


                def app(environ, start_response):
                    match = _ADJUST.match(environ["PATH_INFO"])
                    if environ["REQUEST_METHOD"] != "POST" or match is None:
                        start_response("404 Not Found", [])
                        return [b""]
                    size = int(environ.get("CONTENT_LENGTH") or 0)
                    payload = json.loads(environ["wsgi.input"].read(size) or b"{}")
                    start_response("200 OK", [("Content-Type", "application/json")])
                    return [json.dumps(adjust(match["sku"], payload)).encode()]
            '''),
        },
        trigger=(
            "import io\n"
            "from stock.api import app\n"
            "data = b'{\"delta\": \"-2.0\"}'\n"
            "environ = {'REQUEST_METHOD': 'POST', 'PATH_INFO': '/items/A-1/adjust',"
            " 'CONTENT_LENGTH': str(len(data)), 'wsgi.input': io.BytesIO(data)}\n"
            "print(b''.join(app(environ, lambda status, headers: None)))"
        ),
        prefix="/srv/stock",
        style="json",
        context=['{"level": "info", "msg": "request", "method": "POST", "path": "/items/A-1/adjust", '
                 '"body": {"delta": "-2.0"}}'],
    ),
    # ------------------------------------------------------------------ the environment: Python, dependencies, tests
    Case(
        name="py39-project-none-update",
        shape="a project that requires Python < 3.10 (typing.Optional style, a 3.9 traceback without carets)",
        expected="none_dereference",
        python="3.9",
        good={
            "pyproject.toml": _d('''
                [build-system]
                requires = ["setuptools>=61", "wheel"]
                build-backend = "setuptools.build_meta"

                [project]
                name = "flags"
                version = "1.4.2"
                requires-python = ">=3.8,<3.10"
                classifiers = [
                    "Programming Language :: Python :: 3.8",
                    "Programming Language :: Python :: 3.9",
                ]

                [tool.setuptools]
                packages = ["flags"]
            '''),
            "flags/__init__.py": "",
            "flags/merge.py": _d('''
                """Feature flags: defaults, overridden per tenant."""

                from typing import Dict, Optional


                def effective_flags(defaults: Dict[str, bool],
                                    overrides: Optional[Dict[str, bool]] = None) -> Dict[str, bool]:
                    merged = dict(defaults)
                    merged.update(overrides or {})
                    return merged


                def is_enabled(flag: str, defaults: Dict[str, bool], tenant: Optional[dict]) -> bool:
                    return effective_flags(defaults, (tenant or {}).get("flags"))[flag]
            '''),
            "tests/test_merge.py": _d('''
                from flags.merge import effective_flags, is_enabled


                def test_override():
                    assert effective_flags({"a": False}, {"a": True}) == {"a": True}


                def test_tenant_flag():
                    assert is_enabled("beta", {"beta": False}, {"flags": {"beta": True}}) is True
            '''),
        },
        bug={
            "flags/merge.py": _d('''
                """Feature flags: defaults, overridden per tenant."""

                from typing import Dict, Optional


                def effective_flags(defaults: Dict[str, bool],
                                    overrides: Optional[Dict[str, bool]] = None) -> Dict[str, bool]:
                    merged = dict(defaults)
                    merged.update(overrides)
                    return merged


                def is_enabled(flag: str, defaults: Dict[str, bool], tenant: Optional[dict]) -> bool:
                    return effective_flags(defaults, (tenant or {}).get("flags"))[flag]
            '''),
        },
        trigger="from flags.merge import is_enabled\nprint(is_enabled('beta', {'beta': False}, {'name': 'acme'}))",
        prefix="/srv/flags",
        style="k8s",
    ),
    Case(
        name="setup-py-only-dependency",
        shape="dependencies declared only in setup.py install_requires (a pure-Python package from the index)",
        expected="type_mismatch",
        good={
            "setup.py": _d('''
                from setuptools import find_packages, setup

                setup(
                    name="renewals",
                    version="0.3.0",
                    packages=find_packages(exclude=["tests"]),
                    install_requires=["python-dateutil>=2.8"],
                )
            '''),
            "renewals/__init__.py": "",
            "renewals/terms.py": _d('''
                """When a subscription renews."""

                from datetime import date

                from dateutil.relativedelta import relativedelta


                def renewal_date(start: date, plan: dict) -> date:
                    return start + relativedelta(months=int(plan["term_months"]))
            '''),
            "tests/test_terms.py": _d('''
                from datetime import date

                from renewals.terms import renewal_date


                def test_month_end():
                    assert renewal_date(date(2026, 1, 31), {"term_months": 1}) == date(2026, 2, 28)


                def test_text_term():
                    assert renewal_date(date(2026, 1, 1), {"term_months": "12"}) == date(2027, 1, 1)
            '''),
        },
        bug={
            "renewals/terms.py": _d('''
                """When a subscription renews."""

                from datetime import date

                from dateutil.relativedelta import relativedelta


                def renewal_date(start: date, plan: dict) -> date:
                    return start + relativedelta(months=plan["term_months"])
            '''),
            "tests/test_terms.py": _d('''
                from datetime import date

                from renewals.terms import renewal_date


                def test_month_end():
                    assert renewal_date(date(2026, 1, 31), {"term_months": 1}) == date(2026, 2, 28)
            '''),
        },
        trigger=(
            "from datetime import date\n"
            "from renewals.terms import renewal_date\n"
            "print(renewal_date(date(2026, 11, 5), {'plan': 'annual', 'term_months': '12'}))"
        ),
        prefix="/srv/renewals",
        style="plain",
        context=['INFO renewing subscription {"plan": "annual", "term_months": "12"}'],
    ),
    Case(
        name="file-scoped-test-command",
        shape="the repo's test command names one test file (the regression test must still be collected)",
        expected="index_out_of_range",
        test_command="python -m pytest -q tests/test_initials.py",
        good={
            "avatars/__init__.py": "",
            "avatars/initials.py": _d('''
                """Initials drawn on default avatars."""


                def initials(full_name: str) -> str:
                    parts = full_name.split()
                    if not parts:
                        return "?"
                    return (parts[0][0] + parts[-1][0]).upper() if len(parts) > 1 else parts[0][0].upper()
            '''),
            "avatars/colors.py": _d('''
                """Avatar background colours."""

                PALETTE = ["#e57373", "#64b5f6", "#81c784"]


                def color_for(user_id: int) -> str:
                    return PALETTE[user_id % len(PALETTE)]
            '''),
            "tests/test_initials.py": _d('''
                from avatars.initials import initials


                def test_two_names():
                    assert initials("grace hopper") == "GH"


                def test_one_name():
                    assert initials("cher") == "C"
            '''),
            "tests/test_colors.py": _d('''
                from avatars.colors import color_for


                def test_wraps():
                    assert color_for(3) == color_for(0)
            '''),
        },
        bug={
            "avatars/initials.py": _d('''
                """Initials drawn on default avatars."""


                def initials(full_name: str) -> str:
                    parts = full_name.split()
                    return (parts[0][0] + parts[-1][0]).upper() if len(parts) > 1 else parts[0][0].upper()
            '''),
        },
        trigger="from avatars.initials import initials\nprint(initials('   '))",
        prefix="/app",
        style="bracket",
        context=['INFO rendering avatar for user 5521 name="   "'],
    ),
    Case(
        name="hanging-live-test-deselected",
        shape="the suite holds a test that waits for a broker forever; the repo's test command leaves it out",
        expected="division_by_zero",
        test_command='python -m pytest -q -m "not live"',
        good={
            "pytest.ini": _d('''
                [pytest]
                markers =
                    live: needs the local broker from docker-compose.yml (run with -m live)
            '''),
            "queueing/__init__.py": "",
            "queueing/stats.py": _d('''
                """Consumer statistics."""


                def ack_ratio(acked: int, delivered: int) -> float:
                    if delivered == 0:
                        return 1.0
                    return round(acked / delivered, 3)
            '''),
            "queueing/broker.py": _d('''
                """Wait for the broker the service talks to."""

                import socket
                import time


                def wait_for_broker(host: str = "127.0.0.1", port: int = 5672) -> None:
                    while True:
                        try:
                            socket.create_connection((host, port), timeout=1).close()
                            return
                        except OSError:
                            time.sleep(0.5)
            '''),
            "tests/test_stats.py": _d('''
                from queueing.stats import ack_ratio


                def test_ratio():
                    assert ack_ratio(3, 4) == 0.75


                def test_all_acked():
                    assert ack_ratio(5, 5) == 1.0
            '''),
            "tests/test_live.py": _d('''
                import pytest

                from queueing.broker import wait_for_broker


                @pytest.mark.live
                def test_broker_roundtrip():
                    wait_for_broker()
            '''),
        },
        bug={
            "queueing/stats.py": _d('''
                """Consumer statistics."""


                def ack_ratio(acked: int, delivered: int) -> float:
                    return round(acked / delivered, 3)
            '''),
        },
        trigger="from queueing.stats import ack_ratio\nprint(ack_ratio(0, 0))",
        prefix="/srv/consumer",
        style="k8s",
        context=["INFO consumer idle: delivered=0 acked=0"],
    ),
    Case(
        name="hanging-candidate-batches",
        shape="a loop whose obvious guard (a zero step) would make the suite hang, so a candidate can hang",
        expected="division_by_zero",
        good={
            "batching/__init__.py": "",
            "batching/split.py": _d('''
                """Split work into batches for the export workers."""


                def batch_size(total: int, workers: int) -> int:
                    return max(1, -(-total // max(1, workers)))


                def batches(items: list, workers: int) -> list[list]:
                    size = batch_size(len(items), workers)
                    out, start = [], 0
                    while start < len(items):
                        out.append(items[start:start + size])
                        start += size
                    return out
            '''),
            "tests/test_split.py": _d('''
                from batching.split import batches


                def test_even():
                    assert batches([1, 2, 3, 4], 2) == [[1, 2], [3, 4]]


                def test_uneven():
                    assert batches([1, 2, 3], 2) == [[1, 2], [3]]


                def test_more_workers_than_items():
                    assert batches([1], 4) == [[1]]
            '''),
        },
        bug={
            "batching/split.py": _d('''
                """Split work into batches for the export workers."""


                def batch_size(total: int, workers: int) -> int:
                    return max(1, -(-total // workers))


                def batches(items: list, workers: int) -> list[list]:
                    size = batch_size(len(items), workers)
                    out, start = [], 0
                    while start < len(items):
                        out.append(items[start:start + size])
                        start += size
                    return out
            '''),
        },
        trigger="from batching.split import batches\nprint(batches(['r1', 'r2', 'r3'], 0))",
        prefix="/srv/export",
        style="json",
        context=['{"level": "info", "msg": "export planned", "rows": 3, "workers": 0}'],
    ),
    # ------------------------------------------------------------------ declining is right
    Case(
        name="decline-deliberate-validation",
        shape="a deliberate validation error raised by the repo (the caller sent a bad request)",
        expected="unknown",
        fixable=False,
        good={
            "transfers/__init__.py": "",
            "transfers/rules.py": _d('''
                """Rules every transfer must follow."""


                class TransferRejected(Exception):
                    """The transfer breaks a rule; the caller must not retry it unchanged."""


                def check(transfer: dict) -> dict:
                    if transfer["amount_cents"] <= 0:
                        raise TransferRejected(f"amount must be positive, got {transfer['amount_cents']}")
                    return transfer
            '''),
            "tests/test_rules.py": _d('''
                import pytest

                from transfers.rules import TransferRejected, check


                def test_ok():
                    assert check({"amount_cents": 5, "from": "a", "to": "b"})["amount_cents"] == 5


                def test_rejects_zero():
                    with pytest.raises(TransferRejected):
                        check({"amount_cents": 0, "from": "a", "to": "b"})
            '''),
        },
        bug={
            "transfers/rules.py": _d('''
                """Rules every transfer must follow."""


                class TransferRejected(Exception):
                    """The transfer breaks a rule; the caller must not retry it unchanged."""


                def check(transfer: dict) -> dict:
                    if transfer["amount_cents"] <= 0:
                        raise TransferRejected(f"amount must be positive, got {transfer['amount_cents']}")
                    if transfer.get("from") == transfer.get("to"):
                        raise TransferRejected("cannot transfer to the same account")
                    return transfer
            '''),
        },
        trigger=(
            "from transfers.rules import check\n"
            "print(check({'amount_cents': 1200, 'from': 'acc-1', 'to': 'acc-1'}))"
        ),
        prefix="/srv/transfers",
        style="bracket",
    ),
    Case(
        name="decline-database-down",
        shape="the service cannot reach its database (connection refused): an outage, not a code bug",
        expected="unknown",
        fixable=False,
        good={
            "store/__init__.py": "",
            "store/db.py": _d('''
                """The connection to the orders database."""

                import os
                import socket


                def connect() -> socket.socket:
                    host = os.environ.get("DB_HOST", "127.0.0.1")
                    port = int(os.environ.get("DB_PORT", "1"))
                    return socket.create_connection((host, port), timeout=5)


                def dsn_label() -> str:
                    return f"{os.environ.get('DB_HOST', '127.0.0.1')}:{os.environ.get('DB_PORT', '1')}"
            '''),
            "tests/test_db.py": _d('''
                from store.db import dsn_label


                def test_label(monkeypatch):
                    monkeypatch.setenv("DB_HOST", "db")
                    monkeypatch.setenv("DB_PORT", "5432")
                    assert dsn_label() == "db:5432"
            '''),
        },
        bug={
            "store/db.py": _d('''
                """The connection to the orders database."""

                import os
                import socket


                def connect() -> socket.socket:
                    host = os.environ.get("DB_HOST", "127.0.0.1")
                    port = int(os.environ.get("DB_PORT", "1"))
                    return socket.create_connection((host, port), timeout=3)


                def dsn_label() -> str:
                    return f"{os.environ.get('DB_HOST', '127.0.0.1')}:{os.environ.get('DB_PORT', '1')}"
            '''),
        },
        trigger="from store.db import connect\nconnect()",
        prefix="/srv/orders-db",
        style="json",
        context=['{"level": "warning", "msg": "db health check failed", "attempt": 5}'],
    ),
    Case(
        name="decline-state-machine-assert",
        shape="an invariant assertion in a state machine (an event arrived out of order)",
        expected="unknown",
        fixable=False,
        good={
            "orders/__init__.py": "",
            "orders/lifecycle.py": _d('''
                """Order states; an order only moves forward."""

                NEXT = {"new": {"paid", "cancelled"}, "paid": {"shipped", "refunded"}, "shipped": {"delivered"}}


                def advance(order: dict, new_state: str) -> dict:
                    current = order["state"]
                    assert new_state in NEXT.get(current, set()), f"illegal transition {current} -> {new_state}"
                    return {**order, "state": new_state}
            '''),
            "tests/test_lifecycle.py": _d('''
                import pytest

                from orders.lifecycle import advance


                def test_pay():
                    assert advance({"id": 1, "state": "new"}, "paid")["state"] == "paid"


                def test_no_skipping():
                    with pytest.raises(AssertionError):
                        advance({"id": 1, "state": "new"}, "delivered")
            '''),
        },
        bug={
            "orders/lifecycle.py": _d('''
                """Order states; an order only moves forward."""

                NEXT = {"new": {"paid", "cancelled"}, "paid": {"shipped", "refunded"}, "shipped": {"delivered"},
                        "delivered": set()}


                def advance(order: dict, new_state: str) -> dict:
                    current = order["state"]
                    assert new_state in NEXT.get(current, set()), f"illegal transition {current} -> {new_state}"
                    return {**order, "state": new_state}
            '''),
        },
        trigger=(
            "from orders.lifecycle import advance\n"
            "print(advance({'id': 'o-17', 'state': 'delivered'}, 'refunded'))"
        ),
        prefix="/srv/orders",
        style="k8s",
        context=['INFO event order.refunded for o-17 (state delivered)'],
    ),
]
