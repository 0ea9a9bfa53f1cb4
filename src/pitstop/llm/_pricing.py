"""Prices of model calls in dollars, from the ``genai-prices`` database or set by hand.

Every client that knows its model can price a call: `OpenAIClient`, and `SimulatedLLM`
or `FunctionLLM` when given a model name to price as (``SimulatedLLM(price_as=
"gpt-4o-mini")``). The price comes, in this order, from

1. ``price=`` on the client: a `Price`, or a mapping of dollars per million tokens
   (``{"input": 0.15, "output": 0.6, "cached_input": 0.075}``);
2. the process-wide table filled by `set_price` (for a fine-tuned or self-hosted model);
3. `genai-prices <https://github.com/pydantic/genai-prices>`_, the price database
   pydantic-ai uses, by provider (from the base URL) and model name.

A model found nowhere costs ``None`` (unknown, never a made-up 0) and gives one
`UserWarning` per model name naming the fix. Cached prompt tokens are billed at the
model's cache-read price; reasoning tokens are output tokens and billed as such.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pitstop.errors import ConfigError

__all__ = [
    "Price", "PriceLike", "Pricing", "clear_prices", "lookup_price", "resolve_price", "set_price",
]

_MTOK = 1_000_000


@dataclass(frozen=True, slots=True)
class Price:
    """What a model charges, in dollars per million tokens.

    Example: ``Price(input=0.15, output=0.60, cached_input=0.075)`` is gpt-4o-mini.
    """

    input: float
    """Dollars per million prompt tokens."""
    output: float
    """Dollars per million output tokens (reasoning tokens included)."""
    cached_input: float | None = None
    """Dollars per million prompt tokens served from the provider's prompt cache
    (None: the same as `input`, i.e. no discount)."""
    source: str = "price="
    """Where the price came from: ``price=``, ``set_price`` or ``genai-prices``."""
    exact: Any = field(default=None, compare=False, repr=False)
    """genai-prices' own ``ModelPrice`` when its prices are tiered by prompt length;
    `cost` then defers to it, so long prompts are billed at their tier."""

    def __post_init__(self) -> None:
        for name in ("input", "output", "cached_input"):
            value = getattr(self, name)
            if value is None and name == "cached_input":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not math.isfinite(value) or value < 0:
                raise ConfigError(
                    f"Price.{name} must be dollars per million tokens (a finite number >= 0), "
                    f"got {value!r}."
                )

    def cost(
        self, input_tokens: int, output_tokens: int, cached_input_tokens: int = 0
    ) -> float:
        """Dollars for one call; `cached_input_tokens` are part of `input_tokens`."""
        cached = min(max(cached_input_tokens, 0), input_tokens)
        if self.exact is not None:
            return _exact_cost(self.exact, input_tokens, output_tokens, cached)
        cached_rate = self.input if self.cached_input is None else self.cached_input
        return (
            (input_tokens - cached) * self.input + cached * cached_rate
            + output_tokens * self.output
        ) / _MTOK

    def cache_saving(self, cached_input_tokens: int) -> float:
        """Dollars the provider's prompt cache saved on `cached_input_tokens`."""
        if self.cached_input is None:
            return 0.0
        return cached_input_tokens * max(self.input - self.cached_input, 0.0) / _MTOK

    def __str__(self) -> str:
        cached = "" if self.cached_input is None else f", ${self.cached_input:g} cached input"
        return f"${self.input:g} input{cached}, ${self.output:g} output per million tokens"


PriceLike = Price | Mapping[str, float]
"""A `Price`, or a mapping with ``input``, ``output`` and optionally ``cached_input``."""

_table: dict[str, Price] = {}
_lookups: dict[tuple[str, str | None], Price | None] = {}
_warned: set[str] = set()
_lock = threading.Lock()


def resolve_price(price: PriceLike | None, *, model: str) -> Price | None:
    """`price` as a `Price` (None stays None); a clear `ConfigError` for anything else."""
    if price is None or isinstance(price, Price):
        return price
    if isinstance(price, Mapping):
        unknown = set(price) - {"input", "output", "cached_input"}
        missing = {"input", "output"} - set(price)
        if unknown or missing:
            raise ConfigError(
                f"price for {model!r} needs 'input' and 'output' (and optionally "
                f"'cached_input'), in dollars per million tokens; got keys {sorted(price)}."
            )
        return Price(
            input=price["input"], output=price["output"],
            cached_input=price.get("cached_input"), source="price=",
        )
    raise ConfigError(
        f"price must be a pitstop.llm.Price or a dict like {{'input': 0.15, 'output': 0.6}} "
        f"(dollars per million tokens), got {price!r}."
    )


def set_price(model: str, price: PriceLike | None) -> None:
    """Set (or with None, remove) the price of `model` for every client in this process.

    It wins over genai-prices, so it also corrects a price the database has wrong.
    """
    if not isinstance(model, str) or not model:
        raise ConfigError(f"set_price needs a model name, got {model!r}.")
    resolved = resolve_price(price, model=model)
    with _lock:
        if resolved is None:
            _table.pop(model, None)
        else:
            _table[model] = Price(
                resolved.input, resolved.output, resolved.cached_input, source="set_price"
            )
        _lookups.clear()


def clear_prices() -> None:
    """Forget `set_price` entries, cached lookups and which models were warned about."""
    with _lock:
        _table.clear()
        _lookups.clear()
        _warned.clear()


def lookup_price(model: str, *, base_url: str | None = None, warn: bool = True) -> Price | None:
    """The price of `model` from `set_price`, then genai-prices; None when unknown.

    The provider is found from `base_url` when it is a provider's API URL, otherwise
    from the model name (so a local OpenAI-compatible server serving ``gpt-4o-mini``,
    such as `pitstop.emulator`, is priced as OpenAI's). An unknown model warns once.
    """
    key = (model, base_url)
    with _lock:
        if key in _lookups:
            return _lookups[key]
        found = _table.get(model)
    if found is None:
        found = _from_genai_prices(model, base_url)
    with _lock:
        _lookups[key] = found
        first = model not in _warned
        if found is None:
            _warned.add(model)
    if found is None and warn and first:
        warnings.warn(
            f"No price is known for model {model!r} (not in genai-prices); its cost is "
            "reported as None. Set one with price={'input': ..., 'output': ...} (dollars per "
            f"million tokens) on the client, or pitstop.llm.set_price({model!r}, ...).",
            UserWarning,
            stacklevel=3,
        )
    return found


def _from_genai_prices(model: str, base_url: str | None) -> Price | None:
    try:
        from genai_prices import data_snapshot
    except ImportError:  # pragma: no cover - a core dependency
        return None
    import datetime

    snapshot = data_snapshot.get_snapshot()
    found: Any = None
    for url in (base_url, None) if base_url else (None,):
        try:
            found = snapshot.find_provider_model(model, None, None, url)
            break
        except LookupError:
            continue
    if found is None:
        return None
    _provider, info = found
    prices = info.get_prices(datetime.datetime.now(datetime.UTC))
    rates = {k: getattr(prices, k, None) for k in ("input_mtok", "output_mtok", "cache_read_mtok")}
    if rates["input_mtok"] is None and rates["output_mtok"] is None:
        return None
    tiered = any(v is not None and hasattr(v, "tiers") for v in rates.values())

    def base(v: Any) -> float | None:
        if v is None:
            return None
        return float(v.base if hasattr(v, "tiers") else v)

    return Price(
        input=base(rates["input_mtok"]) or 0.0,
        output=base(rates["output_mtok"]) or 0.0,
        cached_input=base(rates["cache_read_mtok"]),
        source="genai-prices",
        exact=prices if tiered else None,
    )


def _exact_cost(model_price: Any, input_tokens: int, output_tokens: int, cached: int) -> float:
    from genai_prices import Usage as GenaiUsage

    usage = GenaiUsage(
        input_tokens=input_tokens, output_tokens=output_tokens, cache_read_tokens=cached
    )
    return float(model_price.calc_price(usage)["total_price"])


class Pricing:
    """The price of one client's calls, looked up once, on the first priced call.

    Args:
        model: the model name to price as (None: not priced, cost None, no warning).
        price: an explicit price (wins over the lookup).
        base_url: the endpoint, to find the provider in genai-prices.
    """

    __slots__ = ("_looked_up", "_price", "base_url", "model")

    def __init__(
        self, model: str | None, price: PriceLike | None = None, *, base_url: str | None = None
    ) -> None:
        if model is not None and (not isinstance(model, str) or not model):
            raise ConfigError(f"The model name to price as must be a non-empty string, got "
                              f"{model!r}.")
        self.model = model
        self.base_url = base_url
        self._price = resolve_price(price, model=model or "this model")
        self._looked_up = self._price is not None or model is None

    @property
    def enabled(self) -> bool:
        """True when calls are priced at all (a model to look up, or an explicit price)."""
        return self.model is not None or self._price is not None

    @property
    def price(self) -> Price | None:
        if not self._looked_up:
            self._looked_up = True
            assert self.model is not None
            self._price = lookup_price(self.model, base_url=self.base_url)
        return self._price

    def cost(self, input_tokens: int, output_tokens: int, cached: int = 0) -> float | None:
        price = self.price
        return None if price is None else price.cost(input_tokens, output_tokens, cached)
