"""``llmport providers``: the providers in use, where each came from (settings, a variable, a file,
a local server) with its key's fingerprint, and the detected sources skipped and why. Never a key."""

from __future__ import annotations

from .detect import detect, fingerprint
from .provider_settings import ApiKeySetting, KeyFields, KeyRingFields
from .settings import Settings, load_settings


def describe_providers(settings: Settings) -> list[str]:
    """The report's lines for ``settings`` (as loaded, detected providers included)."""
    detection = detect(secrets_dir=settings.secrets_dir) if _detecting(settings) else None
    detected = {f.name: f for f in detection.found} if detection else {}
    lines = ["providers:"] if settings.providers else ["providers: none found"]
    for name, p in settings.ordered_providers.items():
        models = p.models or ([p.default_model] if p.default_model else [])
        found = detected.get(name)
        if found is not None and (found.settings.get("kind"), found.settings.get("api_key_env"),
                                  found.settings.get("api_key_file")) == (p.kind, getattr(p, "api_key_env", None),
                                                                          getattr(p, "api_key_file", None)):
            source, mark = f"detected from {found.source}", found.fingerprint
        else:
            key = p.resolved_api_key() if isinstance(p, KeyFields) else None
            source, mark = "settings", fingerprint(key) if key else None
        key_text = f", key {mark}" if mark else ""
        if isinstance(p, KeyRingFields) and p.api_keys:
            key_text = ", keys " + ", ".join(_ring_entry(entry) for entry in p.api_keys)
        lines.append(f"  {name} ({p.kind}): {source}{key_text}; models: {', '.join(models) or '-'}")
    if detection is not None and detection.skipped:
        lines.append("skipped:")
        lines.extend(f"  {s.source}: {s.reason}" for s in detection.skipped)
    return lines


def _ring_entry(entry: ApiKeySetting) -> str:
    """One ``api_keys`` entry: its fingerprint (or the unset variable's name) and weight."""
    key = entry.resolved()
    where = fingerprint(key) if key else f"({entry.key_env} not set)"
    return f"{where} (weight {entry.weight:g})"


def _detecting(settings: Settings) -> bool:
    return settings.detect is not False


def providers_command() -> int:
    for line in describe_providers(load_settings()):
        print(line)
    return 0
