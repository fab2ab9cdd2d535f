from orders_worker.events import OrderLine, parse_order_created


def payload() -> dict:
    return {
        "order_id": "ord_1",
        "customer_id": "cus_100",
        "currency": "EUR",
        "lines": [
            {"sku": "TEA-01", "quantity": 2, "unit_price_cents": 450},
            {"sku": "MUG-07", "quantity": 1, "unit_price_cents": 1299},
        ],
    }


def test_parse_order_created_reads_ids() -> None:
    order = parse_order_created(payload())
    assert order.order_id == "ord_1"
    assert order.customer_id == "cus_100"


def test_total_is_sum_of_lines() -> None:
    assert parse_order_created(payload()).total_cents == 2 * 450 + 1299


def test_currency_defaults_to_eur() -> None:
    data = payload()
    del data["currency"]
    assert parse_order_created(data).currency == "EUR"


def test_line_total() -> None:
    assert OrderLine("X", 3, 250).total_cents == 750
