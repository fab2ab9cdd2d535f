from app.pricing import calc, price_line, quote


def test_divisor_of_one_keeps_the_price():
    assert calc(18.0, 1.0) == 18.0


def test_divisor_lowers_the_price():
    assert calc(24.0, 1.25) == 19.2


def test_line_total_multiplies_the_rounded_unit_price():
    line = price_line("BAG-3", 30.0, 3, 1.6)
    assert line.unit_price == 18.75
    assert line.total == 56.25


def test_quote_sums_the_lines():
    lines = [price_line("TEE-1", 24.0, 2, 1.25), price_line("CAP-2", 18.0, 1, 1.0)]
    result = quote(lines)
    assert result["currency"] == "EUR"
    assert result["total"] == 56.4
    assert [line["sku"] for line in result["lines"]] == ["TEE-1", "CAP-2"]
