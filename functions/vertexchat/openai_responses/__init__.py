"""The OpenAI Responses API codec: request parsing, the response object, the semantic stream, the routes.

Tested in tests/test_responses.py.
"""
