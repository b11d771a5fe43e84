"""A loopback simulator of Vertex AI's Claude endpoints, for tests, benchmarks and `make run`.

Routes (as the anthropic SDK's AnthropicVertex client and Google's REST API use them):
  POST /v1/projects/P/locations/L/publishers/anthropic/models/M:rawPredict        Claude message JSON
  POST /v1/projects/P/locations/L/publishers/anthropic/models/M:streamRawPredict  Claude SSE events
  POST /v1/projects/P/locations/L/publishers/anthropic/models/count-tokens:rawPredict
  GET  /v1beta1/publishers/anthropic/models?pageSize=&pageToken=                 Model Garden listing
Control API (no auth): POST /_sim/script, GET /_sim/requests, POST /_sim/reset, GET|POST /_sim/config,
GET /_sim/steps, POST /_sim/clock {"advance_s": N}, GET /_sim/cache. See steps.py for the step schema.
Each request record holds the exact `headers` (lower-cased names), `body`, the parsed `betas`, and for
generate requests the `usage` it was answered with and the prompt cache's reasoning (`cache`).

The rules it follows, and where they come from:
- Vertex envelope (envelope.py): `model` in the URL, not the body, and `anthropic_version` in the body
  (Anthropic, "Claude on Vertex AI"); count-tokens takes `model` in the body (the anthropic SDK's Vertex
  client); unknown top-level fields are a 400 `<field>: Extra inputs are not permitted`, including
  Anthropic's top-level automatic `cache_control`, which Google does not document for Vertex (Google,
  "Prompt caching" for Claude: explicit caching only; reports in vercel/ai#13986, dust-tt/dust#27109);
  `context_management` only with its beta; `anthropic-beta` values Vertex refuses are a 400
  `Unexpected value(s) ...` (REFUSED_BETAS, each with the report it comes from).
- Claude request rules (rules.py): Anthropic's Messages API reference and the 400s Claude returns.
- Prompt caching (prompt.py, cache.py): Anthropic's "Prompt caching" page, which Google's page for
  Claude on Vertex defers to ("behaves as described in the Anthropic documentation"): breakpoints on
  tools, system and message blocks, prefix order tools -> system -> messages, 20-block lookback, the
  per-model minimum, 5m/1h TTLs refreshed on each hit, at most 4 breakpoints, 1h never after 5m, no
  breakpoint on thinking or empty text blocks, caches per Google Cloud project; billing in
  `cache_read_input_tokens`, `cache_creation_input_tokens` and `cache_creation`, outside `input_tokens`.
- Token counts are a deterministic estimate (prompt.py), not Claude's tokenizer.
"""

from __future__ import annotations

from local._http import CloudRunRefusal
from local.vertex_sim.catalog import DEFAULT_MODELS
from local.vertex_sim.server import VertexSimulator
from local.vertex_sim.steps import StepError

__all__ = ["DEFAULT_MODELS", "CloudRunRefusal", "StepError", "VertexSimulator"]
