from fastapi.testclient import TestClient

from app.main import app

client = TestClient(app)


def test_health():
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_item_shows_the_discounted_unit_price():
    response = client.get("/items/TEE-1")
    assert response.status_code == 200
    assert response.json()["unit_price"] == 19.2


def test_unknown_item_is_404():
    assert client.get("/items/NOPE-9").status_code == 404


def test_quote_uses_catalog_price_and_discount():
    response = client.post("/quote", json={"items": [{"sku": "TEE-1", "quantity": 2}, {"sku": "CAP-2"}]})
    assert response.status_code == 200
    assert response.json()["total"] == 56.4


def test_quote_honours_the_cart_price_and_discount():
    item = {"sku": "BAG-3", "price": 25.0, "quantity": 2, "discount": 1.25}
    response = client.post("/quote", json={"items": [item]})
    assert response.status_code == 200
    assert response.json()["lines"][0] == {"sku": "BAG-3", "quantity": 2, "unit_price": 20.0, "total": 40.0}


def test_quote_rejects_a_zero_quantity():
    response = client.post("/quote", json={"items": [{"sku": "CAP-2", "quantity": 0}]})
    assert response.status_code == 422


def test_quote_rejects_an_empty_cart():
    assert client.post("/quote", json={"items": []}).status_code == 422


def test_quote_for_an_unknown_sku_is_404():
    response = client.post("/quote", json={"items": [{"sku": "NOPE-9"}]})
    assert response.status_code == 404
