"""A loopback simulator of Vertex AI's Claude endpoints, for tests, benchmarks and `make run`.

Routes (as the anthropic SDK's AnthropicVertex client and Google's REST API use them):
  POST /v1/projects/P/locations/L/publishers/anthropic/models/M:rawPredict        Claude message JSON
  POST /v1/projects/P/locations/L/publishers/anthropic/models/M:streamRawPredict  Claude SSE events
  POST /v1/projects/P/locations/L/publishers/anthropic/models/count-tokens:rawPredict
  GET  /v1beta1/publishers/anthropic/models?pageSize=&pageToken=                 Model Garden listing
Control API (no auth): POST /_sim/script, GET /_sim/requests, POST /_sim/reset, GET|POST /_sim/config,
GET /_sim/steps. See steps.py for the step schema.
"""

from __future__ import annotations

from local._http import CloudRunRefusal
from local.vertex_sim.catalog import DEFAULT_MODELS
from local.vertex_sim.server import VertexSimulator
from local.vertex_sim.steps import StepError

__all__ = ["DEFAULT_MODELS", "CloudRunRefusal", "StepError", "VertexSimulator"]
