"""The OpenAI Chat Completions codec: parse, to Claude, events to chunks, replies and errors.

- ``schema``: request parsing and validation (400s name the field).
- ``request``: PURE; an OpenAI request -> a Claude request.
- ``reply``: PURE; a Claude message -> an OpenAI ``chat.completion``.
- ``chunks``: PURE; Claude events -> ``chat.completion.chunk`` SSE (the stream encoder).
- ``route``: ``POST /v1/chat/completions``, wiring the codec to the shared turn.
"""
