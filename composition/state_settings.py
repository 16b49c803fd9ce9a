"""Settings of the state replicas share (``state``): where Redis is and which namespace to use.

As environment variables::

    LLMPORT_STATE__URL=rediss://:password@redis.internal:6380/0   # a secret: never shown, never logged
    LLMPORT_STATE__NAMESPACE=checkout-api                         # default "llmport"; one per deployment
    LLMPORT_STATE__TIMEOUT=0.05                                   # seconds per state call

Without ``url`` every replica keeps its state in memory.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class StateSettings(BaseModel):
    """``state``: the shared Redis (needs ``llmport[redis]``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True, allow_inf_nan=False)

    url: SecretStr | None = None
    namespace: str = "llmport"
    timeout: float = Field(default=0.05, gt=0, le=5.0)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            from llmport.adapters.redis.keys import check_url  # (with a state section only)

            check_url(value.get_secret_value())  # its ValueError never quotes the URL
        return value

    @field_validator("namespace")
    @classmethod
    def _check_namespace(cls, value: str) -> str:
        from llmport.adapters.redis.keys import check_namespace

        check_namespace(value)
        return value

    def secret_values(self) -> list[str]:
        """The URL and, on its own, its password (both redacted from every log line)."""
        if self.url is None:
            return []
        url = self.url.get_secret_value()
        password = urlsplit(url).password
        return [url, password] if password else [url]
