"""HTTP API of the pricing service."""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from app import __version__
from app.catalog import get_item
from app.pricing import calc, price_line, quote

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s [%(name)s] %(message)s")
logger = logging.getLogger("pricing")

app = FastAPI(title="pricing-service", version=__version__)


class QuoteItem(BaseModel):
    """One cart line; price and discount default to the catalog's."""

    sku: str
    price: float | None = Field(default=None, ge=0)
    quantity: int = Field(default=1, ge=1, le=1000)
    discount: float | None = Field(default=None, ge=0)


class QuoteRequest(BaseModel):
    """A cart to price."""

    items: list[QuoteItem] = Field(min_length=1, max_length=100)


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


@app.get("/items/{sku}")
def read_item(sku: str) -> dict[str, object]:
    item = get_item(sku)
    if item is None:
        raise HTTPException(status_code=404, detail=f"unknown sku: {sku}")
    return {
        "sku": item.sku,
        "name": item.name,
        "price": item.price,
        "discount": item.discount,
        "unit_price": round(calc(item.price, item.discount), 2),
    }


@app.post("/quote")
def create_quote(request: QuoteRequest) -> dict[str, object]:
    logger.info("quote request: %s", json.dumps(request.model_dump()))
    lines = []
    for entry in request.items:
        item = get_item(entry.sku)
        if item is None:
            raise HTTPException(status_code=404, detail=f"unknown sku: {entry.sku}")
        price = item.price if entry.price is None else entry.price
        discount = item.discount if entry.discount is None else entry.discount
        lines.append(price_line(entry.sku, price, entry.quantity, discount))
    return quote(lines)
