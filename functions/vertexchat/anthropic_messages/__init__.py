"""The Anthropic Messages API (``POST /v1/messages``, ``/v1/messages/count_tokens``) as a pass-through codec.

Claude Code and the Anthropic SDKs speak Claude's own API, so nothing is translated: the
client's body goes to Vertex AI as it came (``model`` moved into the URL, ``anthropic_version``
set as Vertex requires) and Vertex's message or SSE events come back unchanged.
"""
