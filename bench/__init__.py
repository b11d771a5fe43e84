"""The benchmark: vertexchat against a direct call and against LiteLLM, in one run (`make bench`)."""
