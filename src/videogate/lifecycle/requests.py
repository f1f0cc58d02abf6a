"""What a client asked for, parsed and checked by the API layer, handed to the services."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..providers.base import CreateParams, InputReference


@dataclass
class CreateRequest:
    """A create body: multipart (the openai SDK), a form or JSON all become this."""

    prompt: str
    model: str | None
    seconds: str | None
    size: str | None
    input_reference: InputReference | None
    fallbacks: list[str]
    extra: dict[str, Any] = field(default_factory=dict)
    # The provider type whose integration mount the request came in on (`/openai/...`):
    # a bare model goes to that provider, as Bifrost's ParseModelString defaults it.
    mount: str | None = None

    def params_for(self, model: str, reference: str | None = None) -> CreateParams:
        """The provider-side parameters for one routing target serving `model`."""
        return CreateParams(
            model=model,
            prompt=self.prompt,
            seconds=self.seconds,
            size=self.size,
            input_reference=self.input_reference,
            extra=dict(self.extra),
            reference=reference,
        )
