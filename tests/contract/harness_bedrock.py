"""The Bedrock Converse adapter over a real boto3 client pointed at the emulator."""

from __future__ import annotations

import boto3
from botocore.config import Config

from llmport.adapters.bedrock import BedrockConverseAdapter
from llmport.ports import LLMPort

from .harness import Harness

MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"


def bedrock_client(url: str, *, read_timeout: float = 5.0, pool: int = 8) -> object:
    """A boto3 bedrock-runtime client for the emulator: fake credentials, retries off."""
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1",
    ).client(
        "bedrock-runtime",
        endpoint_url=url,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=read_timeout,
                      connect_timeout=2.0, max_pool_connections=pool),
    )


def build(url: str) -> LLMPort:
    return BedrockConverseAdapter(bedrock_client(url), provider="bedrock", max_workers=8)


# Bedrock reports ModelNotReadyException (429) for a model without capacity; the first stream
# frame is messageStart, before any text.
HARNESSES = [Harness("bedrock", "bedrock", MODEL, build, reasoning_signature=True, exact_count_tokens=True,
                     overloaded_status=429, lead_frames=1, reasoning_usage=False, cancels_blocked_call=False)]
