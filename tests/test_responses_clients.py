"""The Responses API as real SDK clients use it by default: the Vercel AI SDK's ``openai(model)`` on Node 20
and the OpenAI Agents SDK's default model (``OpenAIResponsesModel``), against the real ``api`` function."""

from __future__ import annotations

import asyncio
from typing import Any

import agents
import openai
import requests

from local.vertex_sim import VertexSimulator
from tests import clients
from tests.harness import FunctionServer

MODEL = "claude-sonnet-4-5"


def generated(sim: VertexSimulator) -> list[dict[str, Any]]:
    return [r["body"] for r in sim.requests() if r["kind"] in ("rawPredict", "streamRawPredict")]


def weather_steps(text: str = "Let me look that up.") -> tuple[dict[str, Any], dict[str, Any]]:
    return ({"content": [{"type": "text", "text": text},
                         {"type": "tool_use", "id": "toolu_w1", "name": "get_weather", "input": {"city": "Paris"}}],
             "stop_reason": "tool_use"},
            {"text": "It is sunny and 21 C in Paris."})


PARIS_LOOP = [
    {"role": "user", "content": [{"type": "text", "text": "What is the weather in Paris? Use the tool."}]},
    {"role": "assistant", "content": [{"type": "text", "text": "Let me look that up."},
                                      {"type": "tool_use", "id": "toolu_w1", "name": "get_weather",
                                       "input": {"city": "Paris"}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_w1",
                                  "content": [{"type": "text", "text": "Sunny, 21 C in Paris"}]}]},
]


def test_ai_sdk_generate_text(api: FunctionServer, sim: VertexSimulator, firestore: str) -> None:
    sim.script({"text": "Hello from Claude."})

    result = clients.ai_sdk("responses_generate", clients.DriverOptions(api.url, "unused", model=MODEL))

    assert result["ok"], result
    assert result["text"] == "Hello from Claude."
    assert result["finish_reason"] == "stop"
    assert [(r["method"], r["path"]) for r in result["requests"]] == [("POST", "/v1/responses")]
    [body] = generated(sim)
    assert body["messages"] == [{"role": "user", "content": [{"type": "text",
                                                               "text": "Say hello in one short sentence."}]}]


def test_ai_sdk_stream_text_two_step_tool_loop_with_item_reference(api: FunctionServer, sim: VertexSimulator,
                                                                   firestore: str) -> None:
    sim.script(*weather_steps())

    result = clients.ai_sdk("responses_stream_tools", clients.DriverOptions(api.url, "unused", model=MODEL))

    assert result["ok"], result
    assert result["text"] == "Let me look that up.It is sunny and 21 C in Paris."
    first, second = result["steps"]
    assert first["tool_calls"] == [{"toolCallId": "toolu_w1", "toolName": "get_weather", "input": {"city": "Paris"}}]
    # Step 2 refers to step 1's text by item_reference; vertexchat resolves it from Firestore.
    sent = second["request_body"]["input"]
    assert any(item.get("type") == "item_reference" for item in sent), sent
    bodies = generated(sim)
    assert [tool["name"] for tool in bodies[0]["tools"]] == ["get_weather"]
    assert bodies[1]["messages"] == PARIS_LOOP
    assert the_one_session(api) == LOOP_IN_SESSION


def the_one_session(api: FunctionServer) -> list[tuple[str, Any]]:
    """The only session's messages as (role, content): a resent or referenced loop continues its session."""
    [session] = requests.get(f"{api.url}/v1/sessions", timeout=10).json()["data"]
    messages = requests.get(f"{api.url}/v1/sessions/{session['id']}/messages", timeout=10).json()["data"]
    return [(m["role"], said(m["content"])) for m in messages]


def said(content: Any) -> str:
    """A stored message's text, whether the client sent a string or text parts."""
    return content if isinstance(content, str) else "".join(part["text"] for part in content or ())


LOOP_IN_SESSION = [("user", "What is the weather in Paris? Use the tool."), ("assistant", "Let me look that up."),
                   ("tool", "Sunny, 21 C in Paris"), ("assistant", "It is sunny and 21 C in Paris.")]


def agent_model(api: FunctionServer) -> agents.OpenAIResponsesModel:
    agents.set_tracing_disabled(True)
    client = openai.AsyncOpenAI(base_url=f"{api.url}/v1", api_key="unused", max_retries=0, timeout=30)
    return agents.OpenAIResponsesModel(model=MODEL, openai_client=client)


def test_agents_sdk_text_answer(api: FunctionServer, sim: VertexSimulator, firestore: str) -> None:
    sim.script({"text": "Bonjour!"})
    agent = agents.Agent(name="greeter", instructions="Answer in French.", model=agent_model(api))

    result = asyncio.run(agents.Runner.run(agent, "Say hello"))

    assert result.final_output == "Bonjour!"
    [body] = generated(sim)
    assert body["system"] == [{"type": "text", "text": "Answer in French."}]
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Say hello"}]}]


def test_agents_sdk_tool_loop(api: FunctionServer, sim: VertexSimulator, firestore: str) -> None:
    sim.script(*weather_steps())

    @agents.function_tool
    def get_weather(city: str) -> str:
        """Current weather for a city."""
        return f"Sunny, 21 C in {city}"

    agent = agents.Agent(name="weather", instructions="Use tools.", model=agent_model(api), tools=[get_weather])
    result = asyncio.run(agents.Runner.run(agent, "What is the weather in Paris? Use the tool."))

    assert result.final_output == "It is sunny and 21 C in Paris."
    first, second = generated(sim)
    assert first["tools"][0]["name"] == "get_weather"
    assert second["messages"] == PARIS_LOOP
    assert the_one_session(api) == LOOP_IN_SESSION


def test_ai_sdk_chat_provider_still_speaks_chat_completions(api: FunctionServer, sim: VertexSimulator,
                                                            firestore: str) -> None:
    sim.script(*weather_steps())

    result = clients.ai_sdk("chat_generate_tools", clients.DriverOptions(api.url, "unused", model=MODEL))

    assert result["ok"], result
    assert result["text"] == "It is sunny and 21 C in Paris."
    assert {r["path"] for r in result["requests"]} == {"/v1/chat/completions"}
    assert generated(sim)[1]["messages"] == PARIS_LOOP
