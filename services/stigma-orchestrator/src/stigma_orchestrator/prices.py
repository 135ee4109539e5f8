"""The price of a model's tokens, for the ``budget.max_cost_usd`` of a spec.

An operator's table (``STIGMA_ORCHESTRATOR_PRICE_TABLE``, JSON) comes first; otherwise the
prices Pydantic AI itself uses (the ``genai-prices`` package, read from its bundled data,
never fetched). A run reads its model's price once, in the run_options local activity, so
the price is in its history and a later price change cannot change a replay.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import genai_prices

from service_kit import SettingsLoadError

logger = logging.getLogger(__name__)

_SAMPLE_TOKENS = 1000  # genai-prices prices some models in tiers: ask at a modest size


@dataclass(frozen=True)
class ModelPrice:
    input_usd_per_mtok: Decimal
    output_usd_per_mtok: Decimal


class PriceTable:
    """``provider:model`` -> price; unknown models fall back to genai-prices."""

    def __init__(self, prices: dict[str, ModelPrice] | None = None) -> None:
        self._prices = prices or {}

    @classmethod
    def load(cls, path: Path | None) -> PriceTable:
        if path is None:
            return cls()
        try:
            document = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise SettingsLoadError(
                f"STIGMA_ORCHESTRATOR_PRICE_TABLE: cannot read {path}: {err}"
            ) from None
        if not isinstance(document, dict):
            raise SettingsLoadError(
                f"STIGMA_ORCHESTRATOR_PRICE_TABLE: {path} must hold an object of "
                '"provider:model": {"input_usd_per_mtok": "...", "output_usd_per_mtok": "..."}'
            )
        prices: dict[str, ModelPrice] = {}
        for model, entry in document.items():
            try:
                prices[model] = ModelPrice(
                    Decimal(str(entry["input_usd_per_mtok"])),
                    Decimal(str(entry["output_usd_per_mtok"])),
                )
            except (KeyError, TypeError, InvalidOperation):
                raise SettingsLoadError(
                    f"STIGMA_ORCHESTRATOR_PRICE_TABLE: {path}: {model!r} needs "
                    "input_usd_per_mtok and output_usd_per_mtok as numbers"
                ) from None
        return cls(prices)

    def price(self, model: str) -> ModelPrice | None:
        if found := self._prices.get(model):
            return found
        provider, _, name = model.partition(":")
        if provider == "scripted" or not name:
            return None
        try:
            calculated = genai_prices.calc_price(
                genai_prices.Usage(input_tokens=_SAMPLE_TOKENS, output_tokens=_SAMPLE_TOKENS),
                model_ref=name,
                provider_id=provider,
            )
        except (LookupError, ValueError) as err:
            logger.debug("no price for %s: %s", model, err)
            return None
        scale = Decimal(1_000_000) / _SAMPLE_TOKENS
        return ModelPrice(
            Decimal(str(calculated.input_price)) * scale,
            Decimal(str(calculated.output_price)) * scale,
        )
