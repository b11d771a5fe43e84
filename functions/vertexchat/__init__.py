"""vertexchat: the OpenAI Chat Completions API on Claude through Vertex AI, as Cloud Functions.

Importing the package is cheap on purpose: modules are imported by the routes that need
them, so the health, models and sessions functions never load the anthropic SDK.
"""

__version__ = "0.1.0"
