"""The one Vertex AI adapter: endpoints, credentials, the light JSON client and the Claude client.

Nothing outside this package talks to Vertex or imports the anthropic SDK, httpx, requests
or google-auth's transport; every foreign exception is mapped to ``vertexchat.errors`` here.

- ``endpoints``: PURE; the URL of every Vertex call for a location.
- ``credentials``: ambient Google credentials, refreshed ahead of expiry.
- ``rest``: small JSON calls with ``requests`` (model listing, count-tokens), so the
  models and health functions never load the anthropic SDK.
- ``claude``: generation (``:rawPredict`` / ``:streamRawPredict``) through the SDK's
  Vertex client, streams parsed by ``sse``.
"""
