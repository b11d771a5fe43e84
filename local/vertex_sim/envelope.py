"""PURE: what Vertex accepts around the Messages API body: top-level fields and `anthropic-beta` values.

Claude on Vertex validates the body strictly: a field it does not know is a 400 naming it,
`<field>: Extra inputs are not permitted` (seen for `model` in go-anthropic#139, `cache_control` in
vercel/ai#13986, `fallbacks` in twoGiants/pi-anthropic-vertex#27, `diagnostics` in anthropics/claude-code#82539,
`cache_control_injection_points` in BerriAI/litellm#10427, all answered by Vertex). The rules here:
- `model` is not part of a rawPredict/streamRawPredict body: it is in the URL (Anthropic, "Claude on
  Vertex AI": "model is not passed in the request body"); count-tokens takes it in the body instead.
- A top-level `cache_control` (Anthropic's automatic caching) is refused: Google documents only
  explicit caching for Claude ("Anthropic explicit prompt caching is a feature of Anthropic Claude
  models"), and Vertex answers `cache_control: Extra inputs are not permitted` (vercel/ai#13986;
  dust-tt/dust#27109: "Vertex AI does not support automatic caching").
- `context_management` is a beta field: accepted with the `context-management-2025-06-27` beta, and
  refused as an extra input without it (NVIDIA/OpenShell#2465, verified against Vertex with the header
  stripped; anthropics/claude-code#21612 with a req_vrtx_ request id).
- `output_config.effort` is refused by models before the 4.6 generation (BerriAI/litellm#29585 for
  Haiku 4.5, Kong/developer.konghq.com#5952 for Sonnet 4.5, both live against Vertex).
- `service_tier` is a documented Messages API field and is accepted (no report of Vertex refusing it
  names the field).
- `anthropic-beta` values Vertex does not offer are refused before anything else with Claude's 400
  `Unexpected value(s) ...` (wording and `request_id` from BerriAI/litellm#14293 and
  anthropics/claude-agent-sdk-typescript#307). REFUSED_BETAS lists the values seen refused, each with
  its report; which values Vertex accepts changes per model over time, so tests can replace the list
  (`refused_betas` in the simulator's config).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

REFUSED_BETAS: dict[str, str] = {
    "prompt-caching-2024-07-31": "BerriAI/litellm#14293 (claude-3-5-sonnet on Vertex)",
    "prompt-caching-scope-2026-01-05": "QuantumNous/new-api#2975, anthropics/claude-code#21612 (req_vrtx_)",
    "structured-outputs-2025-11-13": "vercel/ai#10981 (claude-sonnet-4-5@20250929 on Vertex)",
    "structured-outputs-2025-12-15": "QuantumNous/new-api#2975 (claude-opus-4-6 on Vertex)",
    "effort-2025-11-24": "anthropics/claude-agent-sdk-typescript#307 (req_vrtx_), anthropic-sdk-typescript#1089",
}
GENERATE_FIELDS = frozenset({
    "anthropic_version", "messages", "max_tokens", "system", "metadata", "stop_sequences", "stream",
    "temperature", "top_k", "top_p", "tools", "tool_choice", "thinking", "service_tier", "output_config",
})
COUNT_TOKENS_FIELDS = frozenset({
    "anthropic_version", "model", "messages", "system", "tools", "tool_choice", "thinking", "output_config",
})
BETA_FIELDS = {"context_management": "context-management-2025-06-27"}
NO_EFFORT_MODELS = frozenset({
    "claude-sonnet-4-5", "claude-haiku-4-5", "claude-sonnet-4", "claude-opus-4-1", "claude-opus-4",
    "claude-3-7-sonnet", "claude-3-5-haiku", "claude-3-5-sonnet-v2", "claude-3-haiku",
})
INTERLEAVED_THINKING = "interleaved-thinking-2025-05-14"


def parse_betas(header: str | None) -> list[str]:
    """The values of an `anthropic-beta` header (comma-separated, as the SDKs send it), in order."""
    return [value.strip() for value in (header or "").split(",") if value.strip()]


def beta_refusal(betas: Iterable[str], refused: Iterable[str]) -> str | None:
    """Claude's message for the refused values among `betas`, or None when Vertex takes them all."""
    refused_set = set(refused)
    unexpected = [beta for beta in betas if beta in refused_set]
    if not unexpected:
        return None
    listed = ", ".join(f"`{beta}`" for beta in unexpected)
    return (f"Unexpected value(s) {listed} for the `anthropic-beta` header. Please consult our documentation "
            "at docs.anthropic.com or try again without the header.")


def field_violations(body: Mapping[str, Any], *, count_tokens: bool, betas: Iterable[str],
                     model: str | None) -> Iterator[str]:
    """The first top-level field Vertex would refuse, worded as its 400 is."""
    allowed = COUNT_TOKENS_FIELDS if count_tokens else GENERATE_FIELDS
    enabled = set(betas)
    for key in body:
        gate = BETA_FIELDS.get(key)
        if key not in allowed and (gate is None or gate not in enabled):
            yield f"{key}: Extra inputs are not permitted"
    if count_tokens and not isinstance(body.get("model"), str):
        yield "model: Field required"
    output_config = body.get("output_config")
    if isinstance(output_config, Mapping) and "effort" in output_config and model is not None and \
            model.partition("@")[0] in NO_EFFORT_MODELS:
        yield "output_config.effort: Extra inputs are not permitted"
