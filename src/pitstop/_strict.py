"""`StrictModel`: the base of every config object.

Pydantic validates; this turns its report into one `ConfigError` sentence that names
the object, the field, the value seen and the fix (with a "did you mean" for typos).
"""

from __future__ import annotations

import difflib
import typing
from typing import Any

import pydantic

from pitstop._redact import redact_url
from pitstop.errors import ConfigError

__all__ = ["StrictModel", "config_error"]


def config_error(model: type[pydantic.BaseModel], err: pydantic.ValidationError) -> ConfigError:
    """One readable ConfigError from a pydantic ValidationError of `model`."""
    known = list(model.model_fields)
    parts = []
    for e in err.errors(include_url=False):
        field = ".".join(str(x) for x in e["loc"]) or "(value)"
        if e["type"] == "extra_forbidden":
            close = difflib.get_close_matches(str(e["loc"][0]), known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            parts.append(
                f"unknown field {field!r} ({hint}known fields: {', '.join(known)})"
            )
        elif e["type"] == "missing":
            parts.append(f"{field} is required")
        else:
            msg = e["msg"]
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, "):]
            parts.append(f"{field}={e['input']!r}: {msg}")
    return ConfigError(f"Invalid {model.__name__}: " + "; ".join(parts) + ".")


class StrictModel(pydantic.BaseModel):
    """A pydantic model that forbids unknown fields and raises `ConfigError`.

    Rules between fields go in `_check`, which runs after construction and after every
    assignment; an assignment that breaks a rule is undone before the error is raised.
    """

    model_config = pydantic.ConfigDict(extra="forbid", validate_assignment=True)

    @pydantic.field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value: Any, info: pydantic.ValidationInfo) -> Any:
        """``True`` is not a count or a duration (pydantic would read it as 1)."""
        if isinstance(value, bool) and info.field_name is not None:
            annotation = cls.model_fields[info.field_name].annotation
            if annotation is not bool and bool not in typing.get_args(annotation):
                raise ValueError(f"expected a number, not the boolean {value}")
        return value

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except pydantic.ValidationError as err:
            raise config_error(type(self), err) from None
        self._check()

    def _check(self) -> None:
        """Raise `ConfigError` when fields disagree (none to check here)."""

    def __repr_args__(self) -> Any:
        """The fields as repr and str show them: credentials in URL fields hidden."""
        for name, value in super().__repr_args__():
            if isinstance(name, str) and name.endswith("url") and isinstance(value, str):
                value = redact_url(value)
            yield name, value

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in type(self).model_fields and not name.startswith("_"):
            close = difflib.get_close_matches(name, list(type(self).model_fields), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{type(self).__name__} has no field {name!r}.{hint}")
        old = self.__dict__.get(name)
        try:
            super().__setattr__(name, value)
        except pydantic.ValidationError as err:
            raise config_error(type(self), err) from None
        try:
            self._check()
        except ConfigError:
            self.__dict__[name] = old  # an assignment that breaks a rule does not stick
            raise
