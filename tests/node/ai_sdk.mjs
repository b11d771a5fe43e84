// Drive vertexchat with the Vercel AI SDK (`ai` + `@ai-sdk/openai`), as a Next.js app would.
//
//   node ai_sdk.mjs <scenario> --base-url http://127.0.0.1:PORT --token ID_TOKEN [--model M]
//        [--max-retries N] [--prompt TEXT] [--raw]
//
// responses_* scenarios use the provider's default `openai(model)`, which speaks the Responses API
// (POST /v1/responses); chat_* use `openai.chat(model)` (POST /v1/chat/completions). *_tools run a
// two-step tool loop: the model calls get_weather, the SDK runs it, the model answers. With the
// Responses API and `store` left on (the SDK's default), the second step refers to the first step's
// output by `item_reference` instead of resending it. The provider sends the token as
// `Authorization: Bearer`; --auth does not apply. Prints one JSON line (see common.mjs).
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, stepCountIs, streamText, tool } from 'ai';
import { z } from 'zod';

import { describeError, main, withPartial } from './common.mjs';

const HELLO = 'Say hello in one short sentence.';
const WEATHER_PROMPT = 'What is the weather in Paris? Use the tool.';

function weatherFor({ city }) {
  return `Sunny, 21 C in ${city}`;
}

const TOOLS = {
  get_weather: tool({
    description: 'Current weather for a city.',
    inputSchema: z.object({ city: z.string().describe('City name') }),
    execute: async (input) => weatherFor(input),
  }),
};

function describeStep(step) {
  return {
    finish_reason: step.finishReason,
    text: step.text,
    tool_calls: step.toolCalls.map(({ toolCallId, toolName, input }) => ({ toolCallId, toolName, input })),
    tool_results: step.toolResults.map(({ toolCallId, toolName, output }) => ({ toolCallId, toolName, output })),
    usage: step.usage,
    response_id: step.response?.id ?? null,
    request_body: parseBody(step.request?.body),
  };
}

function parseBody(body) {
  if (typeof body !== 'string') return body ?? null;
  try {
    return JSON.parse(body);
  } catch {
    return body;
  }
}

function callSettings(opts, withTools, fetch) {
  const provider = createOpenAI({ baseURL: `${opts.baseURL}/v1`, apiKey: opts.token, fetch });
  const model = opts.api === 'chat' ? provider.chat(opts.model) : provider(opts.model);
  return {
    model,
    prompt: opts.prompt ?? (withTools ? WEATHER_PROMPT : HELLO),
    ...(withTools ? { tools: TOOLS, stopWhen: stepCountIs(2) } : {}),
    ...(opts.maxRetries === undefined ? {} : { maxRetries: opts.maxRetries }),
  };
}

async function generate(settings) {
  const result = await generateText(settings);
  return {
    text: result.text,
    finish_reason: result.finishReason,
    usage: result.usage,
    total_usage: result.totalUsage,
    response: { id: result.response.id, model_id: result.response.modelId },
    provider_metadata: result.providerMetadata ?? null,
    steps: result.steps.map(describeStep),
  };
}

/** Read the whole fullStream; error parts are recorded (streamText reports errors in-band). */
async function stream(settings) {
  const parts = [];
  const textDeltas = [];
  const errors = [];
  const result = streamText({ ...settings, onError: () => {} });
  try {
    for await (const part of result.fullStream) {
      parts.push(part.type);
      if (part.type === 'text-delta') textDeltas.push(part.text);
      if (part.type === 'error') errors.push(describeError(part.error));
    }
    if (errors.length > 0) throw new StreamFailed(errors);
    const steps = await result.steps;
    return {
      text: textDeltas.join(''),
      text_deltas: textDeltas,
      parts,
      finish_reason: await result.finishReason,
      total_usage: await result.totalUsage,
      steps: steps.map(describeStep),
    };
  } catch (err) {
    const failure = err instanceof StreamFailed || errors.length === 0 ? err : new StreamFailed(errors);
    throw withPartial(failure, { text: textDeltas.join(''), text_deltas: textDeltas, parts, stream_errors: errors });
  }
}

/** A stream that reported error parts: the report describes the first, as the client saw it. */
class StreamFailed extends Error {
  constructor(errors) {
    super(errors[0].message);
    this.described = errors[0];
  }
}

const SCENARIOS = Object.fromEntries(
  ['responses', 'chat'].flatMap((api) =>
    [
      ['generate', generate, false],
      ['stream', stream, false],
      ['generate_tools', generate, true],
      ['stream_tools', stream, true],
    ].map(([name, run, withTools]) => [`${api}_${name}`, { api, run, withTools }]),
  ),
);

await main(SCENARIOS, ({ api, run, withTools }, opts, fetch) => run(callSettings({ ...opts, api }, withTools, fetch)));
