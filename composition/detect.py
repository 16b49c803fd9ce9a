"""Zero-configuration start: providers found in the conventional places a developer already uses.

Runs when no provider is configured (or ``LLMPORT_DETECT=true``; ``false`` turns it off). Sources,
in order: ``OPENAI_API_KEY`` (+ ``OPENAI_BASE_URL``), ``AZURE_OPENAI_API_KEY`` + ``AZURE_OPENAI_ENDPOINT``
(+ ``OPENAI_API_VERSION``, ``AZURE_OPENAI_DEPLOYMENT``), ``ANTHROPIC_API_KEY`` (+ ``ANTHROPIC_BASE_URL``),
``GEMINI_API_KEY``/``GOOGLE_API_KEY``, AWS credentials with a region (Bedrock), Google application
default credentials with a project (Vertex), each OpenAI-compatible preset's key variable, and a
local Ollama (``OLLAMA_HOST``, default ``localhost:11434``) probed with a short timeout.

A key variable may also be a file of that name in the secrets directory (``LLMPORT_SECRETS_DIR``,
default ``/run/secrets``). Detected settings never copy a key: they name the variable or the file,
so the key is read (as a secret) only when the client is built. Consumer-subscription OAuth tokens
of vendor CLIs are never read (the vendors' terms forbid third-party use).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .families import provider_settings
from .openai_presets import PRESETS
from .provider_settings import ProviderBase
from .settings import Settings, SettingsError

DEFAULT_SECRETS_DIR = "/run/secrets"
OLLAMA_DEFAULT = "localhost:11434"
OLLAMA_PROBE_TIMEOUT = 0.3  # seconds; a local server answers at once, so this only bounds start-up

# A detected provider's default model (its routes); a host picks others with ``provider/model``.
DEFAULT_MODELS: dict[str, str] = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-3-5-haiku-latest",
    "google": "gemini-2.0-flash",
    "vertex": "gemini-2.0-flash",
    "bedrock": "anthropic.claude-3-5-haiku-20241022-v1:0",
}


@dataclass(frozen=True, slots=True)
class Found:
    """A detected provider: its raw settings (no key value in them), where it came from, and the
    key's fingerprint (last four characters) when it has a key."""

    name: str
    settings: dict[str, Any]
    source: str
    fingerprint: str | None = None


@dataclass(frozen=True, slots=True)
class Skipped:
    """A source that was looked at but not used, and why."""

    source: str
    reason: str


@dataclass(frozen=True, slots=True)
class Detection:
    found: tuple[Found, ...]
    skipped: tuple[Skipped, ...]


def fingerprint(key: str) -> str:
    """A key's last four characters (nothing of a key too short to show any of it safely)."""
    return f"...{key[-4:]}" if len(key) >= 12 else "...(short key)"


class _Keys:
    """Key lookup: an environment variable, else a file of that name in the secrets directory."""

    def __init__(self, env: Mapping[str, str], secrets_dir: Path | None) -> None:
        self.env = env
        self.secrets_dir = secrets_dir

    def find(self, *variables: str) -> tuple[dict[str, Any], str, str] | None:
        """(settings naming the key's place, source label, key) for the first variable found."""
        for variable in variables:
            value = self.env.get(variable, "").strip()
            if value:
                return {"api_key_env": variable}, variable, value
        if self.secrets_dir is not None:
            for variable in variables:
                for name in (variable, variable.lower()):
                    file = self.secrets_dir / name
                    try:
                        value = file.read_text(encoding="utf-8").strip()
                    except OSError:
                        continue
                    if value:
                        return {"api_key_file": str(file)}, f"file {file}", value
        return None


def detect(env: Mapping[str, str] | None = None, *, secrets_dir: str | None = None,
           probe_ollama: bool = True) -> Detection:
    """Providers found in ``env`` (default ``os.environ``), the secrets directory, the AWS and
    Google credential files and a local Ollama."""
    env = os.environ if env is None else env
    directory = Path(secrets_dir or env.get("LLMPORT_SECRETS_DIR") or DEFAULT_SECRETS_DIR)
    keys = _Keys(env, directory if directory.is_dir() else None)
    found: list[Found] = []
    skipped: list[Skipped] = []

    def add(name: str, kind: str, hit: tuple[dict[str, Any], str, str], **extra: Any) -> None:
        place, source, key = hit
        model = extra.pop("default_model", DEFAULT_MODELS.get(kind))
        settings = {"kind": kind, **place, **{k: v for k, v in extra.items() if v}}
        if model:
            settings["default_model"] = model
        found.append(Found(name, settings, source, fingerprint(key)))

    if hit := keys.find("OPENAI_API_KEY"):
        add("openai", "openai", hit, base_url=env.get("OPENAI_BASE_URL"))
    azure = keys.find("AZURE_OPENAI_API_KEY")
    if azure and env.get("AZURE_OPENAI_ENDPOINT"):
        add("azure", "azure_openai", azure, endpoint=env["AZURE_OPENAI_ENDPOINT"],
            api_version=env.get("OPENAI_API_VERSION"), default_model=env.get("AZURE_OPENAI_DEPLOYMENT"))
    elif azure:
        skipped.append(Skipped(azure[1], "AZURE_OPENAI_ENDPOINT is not set"))
    if hit := keys.find("ANTHROPIC_API_KEY"):
        add("anthropic", "anthropic", hit, base_url=env.get("ANTHROPIC_BASE_URL"))
    if hit := keys.find("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        add("gemini", "google", hit)
    _detect_aws(env, found, skipped)
    _detect_vertex(env, found, skipped)
    used = {f.settings.get("api_key_env") for f in found}
    for name, spec in PRESETS.items():
        if not spec.key_env or spec.key_env in used:  # e.g. GEMINI_API_KEY: the native API already serves it
            continue
        if hit := keys.find(spec.key_env):
            add(name, "openai_compatible", hit, preset=name)
    if probe_ollama:
        _detect_ollama(env, found, skipped)
    return Detection(tuple(found), tuple(skipped))


def _detect_aws(env: Mapping[str, str], found: list[Found], skipped: list[Skipped]) -> None:
    # Looks only at the environment and the shared files: the instance metadata service is not
    # probed at start-up (a network wait on every laptop); on AWS hosts set AWS_REGION and a profile.
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        source = "AWS_ACCESS_KEY_ID"
    elif env.get("AWS_PROFILE"):
        source = "AWS_PROFILE"
    elif env.get("AWS_WEB_IDENTITY_TOKEN_FILE"):
        source = "AWS_WEB_IDENTITY_TOKEN_FILE"
    else:
        shared = Path(env.get("AWS_SHARED_CREDENTIALS_FILE") or Path(env.get("HOME", "~")) / ".aws" / "credentials")
        if not shared.expanduser().is_file():
            return
        source = f"file {shared}"
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if not region:
        skipped.append(Skipped(source, "AWS credentials but no region (set AWS_REGION) -> no Bedrock"))
        return
    settings: dict[str, Any] = {"kind": "bedrock", "region": region, "default_model": DEFAULT_MODELS["bedrock"]}
    if env.get("AWS_PROFILE"):
        settings["profile"] = env["AWS_PROFILE"]
    print_key = env.get("AWS_ACCESS_KEY_ID")
    found.append(Found("bedrock", settings, f"{source} + region {region}",
                       fingerprint(print_key) if print_key else None))


def _detect_vertex(env: Mapping[str, str], found: list[Found], skipped: list[Skipped]) -> None:
    file = env.get("GOOGLE_APPLICATION_CREDENTIALS")
    if file:
        path = Path(file)
        source = "GOOGLE_APPLICATION_CREDENTIALS"
    else:
        config = Path(env.get("CLOUDSDK_CONFIG") or Path(env.get("HOME", "~")) / ".config" / "gcloud")
        path = config.expanduser() / "application_default_credentials.json"
        source = f"file {path}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError:
        if file:
            skipped.append(Skipped(source, "the credentials file cannot be read"))
        return
    except ValueError:
        skipped.append(Skipped(source, "the credentials file is not JSON"))
        return
    project = (env.get("GOOGLE_CLOUD_PROJECT") or env.get("GCLOUD_PROJECT")
               or (data.get("project_id") or data.get("quota_project_id") if isinstance(data, dict) else None))
    if not project:
        skipped.append(Skipped(source, "application default credentials but no project (set GOOGLE_CLOUD_PROJECT)"))
        return
    location = env.get("GOOGLE_CLOUD_LOCATION") or "us-central1"
    found.append(Found("vertex", {"kind": "vertex", "project": project, "location": location,
                                  "default_model": DEFAULT_MODELS["vertex"]},
                       f"{source} + project {project}"))


def ollama_address(env: Mapping[str, str]) -> str:
    """Ollama's base address from ``OLLAMA_HOST`` (``host:port`` or a URL), as ``http://host:port``."""
    host = (env.get("OLLAMA_HOST") or OLLAMA_DEFAULT).strip().rstrip("/")
    if "://" not in host:
        host = f"http://{host}"
    if host.count(":") < 2:  # no port given
        host = f"{host}:11434"
    return host.replace("://0.0.0.0", "://localhost")


def _detect_ollama(env: Mapping[str, str], found: list[Found], skipped: list[Skipped]) -> None:
    address = ollama_address(env)
    source = f"Ollama at {address}"
    import urllib.request  # only when detecting: start-up with configured providers never loads it

    try:
        with urllib.request.urlopen(f"{address}/api/tags", timeout=OLLAMA_PROBE_TIMEOUT) as reply:
            data = json.loads(reply.read())
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        why = reason if isinstance(reason, str) else type(reason).__name__
        skipped.append(Skipped(source, f"not reachable ({why})"))
        return
    listed = data.get("models", []) if isinstance(data, dict) else []
    models = [m["name"] for m in listed if isinstance(m, dict) and isinstance(m.get("name"), str)]
    if not models:
        skipped.append(Skipped(source, "running but has no models (ollama pull <model>)"))
        return
    found.append(Found("ollama", {"kind": "openai_compatible", "preset": "ollama", "base_url": f"{address}/v1",
                                  "models": models, "default_model": models[0]}, source))


def with_detected(settings: Settings, env: Mapping[str, str] | None = None) -> Settings:
    """``settings`` plus the detected providers when none is configured or ``detect`` is on
    (configured providers keep their names and win)."""
    if not settings.detecting:
        return settings
    detection = detect(env, secrets_dir=settings.secrets_dir)
    added: dict[str, ProviderBase] = {}
    problems: list[str] = []
    for found in detection.found:
        if found.name in settings.providers:
            continue
        try:
            added[found.name] = provider_settings(**found.settings)
        except ValidationError as exc:  # a detected variable's value is unusable (its value is never shown)
            fields = sorted({".".join(str(p) for p in e["loc"][1:]) or "settings" for e in exc.errors()})
            problems.append(f"provider {found.name!r} detected from {found.source}: unusable {', '.join(fields)}")
    if problems:
        raise SettingsError(*problems)
    if not added:
        return settings
    updated = settings.model_copy(update={"providers": {**settings.providers, **added}})
    updated._origins = settings._origins
    return updated
