"""Checks on a create's parameters that several adapters share: extra parameters coerced to
the types a provider takes (form fields arrive as strings), fields the gateway derives
refused when a caller sets them, per-model options and prompt limits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from ..errors import bad_request

# Declared kinds of provider-specific create parameters (see `coerce_extras`).
ExtraKind = (
    type[int] | type[float] | type[bool] | type[str] | type[dict[str, Any]] | type[list[Any]]
)
_BRACKETS = re.compile(r"\[([^\]]+)\]")
_BOOLS = {"true": True, "false": False, "1": True, "0": False}


def coerce_extras(extra: dict[str, Any], kinds: dict[str, ExtraKind]) -> dict[str, Any]:
    """Give known provider parameters their JSON types; pass unknown ones through unchanged.

    The openai SDK sends create as multipart, so `extra_body={"seed": 42, "opts": {"a": 1}}`
    arrives as the strings `seed=42` and `opts[a]=1`; a JSON provider needs `42` and
    `{"a": 1}` back. Objects may also be given as one JSON string. A value that cannot be
    read as its kind is a 400 naming the parameter.
    """
    out: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for key, value in extra.items():
        head, bracket, rest = key.partition("[")
        path = _BRACKETS.findall(bracket + rest) if bracket else []
        if head in kinds and path and "".join(f"[{p}]" for p in path) == bracket + rest:
            node = nested.setdefault(head, {})
            for part in path[:-1]:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise bad_request(
                        "invalid_parameter", f"{key!r} conflicts with another value.", head
                    )
                node = child
            node[path[-1]] = value
        else:
            out[key] = value
    for head, value in nested.items():
        if head in out:
            raise bad_request("invalid_parameter", f"{head!r} is given twice.", head)
        out[head] = value
    for name, kind in kinds.items():
        if name in out:
            out[name] = _coerce(name, out[name], kind)
    return out


def _coerce(name: str, value: Any, kind: ExtraKind) -> Any:
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            if kind is bool and text.lower() in _BOOLS:
                return _BOOLS[text.lower()]
            if kind is int:
                return int(text)
            if kind is float:
                return float(text)
            if kind in (dict, list):
                parsed = orjson.loads(text)
                if isinstance(parsed, kind):
                    return parsed
        except (ValueError, orjson.JSONDecodeError):
            pass
    elif kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    raise bad_request(
        "invalid_parameter", f"{name} must be {_KIND_NAMES[kind]}, not {value!r}.", name
    )


_KIND_NAMES: dict[ExtraKind, str] = {
    int: "an integer",
    float: "a number",
    bool: "true or false",
    str: "a string",
    dict: "an object",
    list: "an array",
}


def model_options(options: Mapping[str, Any], model: str) -> dict[str, Any]:
    """A provider's `options` with `options["models"][model]` laid over them.

    One provider instance serves many models whose input names and allowed values differ
    (fal apps, Replicate models), so per-model settings override the provider-wide ones.
    """
    merged = {k: v for k, v in options.items() if k != "models"}
    per_model = options.get("models")
    if isinstance(per_model, Mapping) and isinstance(per_model.get(model), Mapping):
        merged.update(per_model[model])
    return merged


def configured_input(name: Any, subject: str, what: str, code: str, param: str) -> str:
    """The provider input a gateway field is sent as, read from `options` (which can rename
    it, or turn it off with null for a model that does not take the field). Off: a 400
    `code` saying "<subject> is configured without <what> input." for `param`."""
    if not name:
        raise bad_request(code, f"{subject} is configured without {what} input.", param)
    return str(name)


# -- create requests -------------------------------------------------------------------------
# Messages for `refuse_reserved`: `{name}` is the extra parameter, `{source}` the OpenAI field
# it is derived from (when the reserved names are given as a mapping).
SET_FROM_REQUEST = "{name} is set from the request itself (model, prompt, input_reference)."


def check_prompt_length(prompt: str, limit: int, vendor: str) -> None:
    """A 400 `prompt_too_long` when `prompt` has more than `limit` characters."""
    if len(prompt) > limit:
        raise bad_request(
            "prompt_too_long", f"{vendor} prompts are at most {limit} characters.", "prompt"
        )


def refuse_reserved(
    extra: Mapping[str, Any],
    reserved: Mapping[str, str] | Iterable[str],
    message: str = SET_FROM_REQUEST,
) -> None:
    """A 400 `invalid_parameter` naming the first of `reserved` (in its order) that `extra`
    sets: the adapter derives those body fields from the OpenAI request, so a second value
    would be ambiguous. `message` is formatted with `name` and `source` (the OpenAI field,
    when `reserved` maps names to them)."""
    sources = reserved if isinstance(reserved, Mapping) else {}
    for name in reserved:
        if name in extra:
            text = message.format(name=name, source=sources.get(name, ""))
            raise bad_request("invalid_parameter", text, name)
