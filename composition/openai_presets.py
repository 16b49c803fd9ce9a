"""Named OpenAI-compatible endpoints, as data: where they live, which environment variable holds
their key, and the quirks the adapter must respect (parameters they reject or name differently).

A preset is chosen with ``kind = "openai_compatible"`` and ``preset = "<name>"``; ``base_url`` and
``api_key_env`` in the settings override the preset's. Without a preset, ``base_url`` is required
(vLLM, LM Studio, an OpenAI-compatible gateway) and the key is optional.
"""

from __future__ import annotations

from typing import Literal

from llmport.domain.frozen import valueclass


@valueclass
class CompatPreset:
    """One OpenAI-compatible service. ``key_env`` None: the service takes no key (local servers)."""

    base_url: str
    key_env: str | None
    end_user_param: Literal["user"] | None = "user"  # parameter for the tenant id; None: not accepted
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    reasoning_effort: bool = False  # accepts ``reasoning_effort``
    stream_usage: bool = True  # accepts ``stream_options.include_usage``
    notes: str = ""


PRESETS: dict[str, CompatPreset] = {
    "groq": CompatPreset("https://api.groq.com/openai/v1", "GROQ_API_KEY", reasoning_effort=True,
                         notes="rejects store, logprobs and n>1"),
    "deepseek": CompatPreset("https://api.deepseek.com/v1", "DEEPSEEK_API_KEY", end_user_param=None,
                             notes="reasoning arrives as reasoning_content; cache hits as prompt_cache_hit_tokens"),
    "mistral": CompatPreset("https://api.mistral.ai/v1", "MISTRAL_API_KEY", end_user_param=None, stream_usage=False,
                            notes="rejects unknown fields (422); usage comes on the last chunk unasked"),
    "openrouter": CompatPreset("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY", reasoning_effort=True,
                               notes="reasoning may arrive as a 'reasoning' delta field"),
    "together": CompatPreset("https://api.together.xyz/v1", "TOGETHER_API_KEY"),
    "fireworks": CompatPreset("https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY", reasoning_effort=True),
    "xai": CompatPreset("https://api.x.ai/v1", "XAI_API_KEY", reasoning_effort=True),
    "perplexity": CompatPreset("https://api.perplexity.ai", "PERPLEXITY_API_KEY", end_user_param=None,
                               notes="usage comes on the last chunk unasked"),
    "cerebras": CompatPreset("https://api.cerebras.ai/v1", "CEREBRAS_API_KEY",
                             max_tokens_param="max_completion_tokens", reasoning_effort=True),
    "deepinfra": CompatPreset("https://api.deepinfra.com/v1/openai", "DEEPINFRA_API_KEY"),
    "sambanova": CompatPreset("https://api.sambanova.ai/v1", "SAMBANOVA_API_KEY", end_user_param=None),
    "huggingface": CompatPreset("https://router.huggingface.co/v1", "HF_TOKEN", end_user_param=None,
                                notes="model names take a ':provider' suffix (e.g. ':novita', ':fastest')"),
    "cohere": CompatPreset("https://api.cohere.ai/compatibility/v1", "COHERE_API_KEY", end_user_param=None,
                           notes="Cohere's OpenAI compatibility API"),
    "gemini_openai": CompatPreset("https://generativelanguage.googleapis.com/v1beta/openai", "GEMINI_API_KEY",
                                  end_user_param=None, reasoning_effort=True,
                                  notes="Gemini's OpenAI-compatible endpoint; the google kind is the native API"),
    "bedrock_openai": CompatPreset("https://bedrock-runtime.us-east-1.amazonaws.com/openai/v1",
                                   "AWS_BEARER_TOKEN_BEDROCK", end_user_param=None,
                                   notes="Bedrock's OpenAI-compatible endpoint with a Bedrock API key; "
                                         "another region: set base_url"),
    "ollama": CompatPreset("http://localhost:11434/v1", None, notes="local; no key"),
    "vllm": CompatPreset("http://localhost:8000/v1", None, notes="local; a key only if started with --api-key"),
    "lmstudio": CompatPreset("http://localhost:1234/v1", None, notes="local; no key"),
}

#: Quirks assumed for a bare ``base_url`` without a preset: the most widely accepted parameters.
GENERIC = CompatPreset("", None, end_user_param=None)


def preset(name: str | None) -> CompatPreset:
    """The named preset (``GENERIC`` for None); ``ValueError`` listing the known names otherwise."""
    if name is None:
        return GENERIC
    found = PRESETS.get(name.lower())
    if found is None:
        raise ValueError(f"unknown openai_compatible preset {name!r}; known: {', '.join(sorted(PRESETS))}")
    return found
