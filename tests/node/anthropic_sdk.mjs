// Drive vertexchat's Anthropic Messages API with the official @anthropic-ai/sdk.
//
//   node anthropic_sdk.mjs <scenario> --base-url http://127.0.0.1:PORT --token ID_TOKEN [--model M]
//        [--max-retries N] [--auth api-key|auth-token|x-api-key] [--prompt TEXT] [--image FILE] [--raw]
//
// Every flag has a VERTEXCHAT_* environment twin (see common.mjs). The base URL is the server root:
// the SDK appends /v1/messages. Prints one JSON line (see common.mjs for the contract).
//
// --auth: `api-key` passes the token as the SDK's apiKey, `auth-token` as its authToken; the 1.x SDK
// sends both as `Authorization: Bearer`. `x-api-key` sends it in an `X-Api-Key` header instead, as
// Claude Code's ANTHROPIC_API_KEY and the 0.x SDKs do.
import Anthropic from '@anthropic-ai/sdk';

import { UsageError, imageSource, main, withPartial } from './common.mjs';

const SYSTEM = [{ type: 'text', text: 'You are a terse assistant.', cache_control: { type: 'ephemeral' } }];
const HELLO = 'Say hello in one short sentence.';

const WEATHER_TOOL = {
  name: 'get_weather',
  description: 'Current weather for a city.',
  input_schema: {
    type: 'object',
    properties: { city: { type: 'string', description: 'City name' } },
    required: ['city'],
  },
};

/** The tool's deterministic answer, so a test can predict the tool_result the server receives. */
function weatherFor(input) {
  return `Sunny, 21 C in ${input?.city ?? 'nowhere'}`;
}

function makeClient(opts, fetch) {
  const credential = {
    'api-key': { apiKey: opts.token },
    'auth-token': { authToken: opts.token },
    // Neither option: the explicit header is the credential (the SDK accepts that as is).
    'x-api-key': { apiKey: null, authToken: null, defaultHeaders: { 'X-Api-Key': opts.token } },
  }[opts.auth];
  if (!credential) throw new UsageError(`--auth must be api-key, auth-token or x-api-key, got ${opts.auth}`);
  return new Anthropic({
    baseURL: opts.baseURL,
    ...credential,
    ...(opts.maxRetries === undefined ? {} : { maxRetries: opts.maxRetries }),
    fetch,
  });
}

function textOf(message) {
  return message.content.filter((block) => block.type === 'text').map((block) => block.text).join('');
}

function helloParams(opts) {
  return { model: opts.model, max_tokens: 256, system: SYSTEM, messages: [{ role: 'user', content: opts.prompt ?? HELLO }] };
}

/** Consume a MessageStream; on failure keep what arrived before it (events, text, the error). */
async function collectStream(stream) {
  const events = [];
  const textDeltas = [];
  try {
    for await (const event of stream) {
      events.push(event.type);
      if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') textDeltas.push(event.delta.text);
    }
    const message = await stream.finalMessage();
    return { events, text_deltas: textDeltas, text: textDeltas.join(''), message };
  } catch (err) {
    throw withPartial(err, { events, text_deltas: textDeltas, text: textDeltas.join('') });
  }
}

async function create(client, opts) {
  const message = await client.messages.create(helloParams(opts));
  return { text: textOf(message), message };
}

async function stream(client, opts) {
  return collectStream(client.messages.stream(helloParams(opts)));
}

/** Ask for a tool call, answer it with a tool_result, return both turns. */
async function toolRoundTrip(client, params, { streamFirst }) {
  const messages = [{ role: 'user', content: 'What is the weather in Paris? Use the tool.' }];
  const request = { ...params, tools: [WEATHER_TOOL], messages };
  const first = streamFirst ? (await collectStream(client.messages.stream(request))).message : await client.messages.create(request);
  const toolUse = first.content.find((block) => block.type === 'tool_use');
  if (!toolUse) return { first, tool_use: null, second: null, text: textOf(first) };
  // The assistant turn goes back exactly as it came (thinking blocks with their signatures first).
  const followUp = [
    ...messages,
    { role: 'assistant', content: first.content },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: toolUse.id, content: weatherFor(toolUse.input) }] },
  ];
  const second = await client.messages.create({ ...request, messages: followUp });
  return { first, tool_use: toolUse, tool_result: weatherFor(toolUse.input), second, text: textOf(second) };
}

async function tools(client, opts) {
  return toolRoundTrip(client, { model: opts.model, max_tokens: 512 }, { streamFirst: false });
}

async function thinking(client, opts) {
  const params = { model: opts.model, max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 } };
  const result = await toolRoundTrip(client, params, { streamFirst: true });
  const signed = result.first.content.filter((block) => block.type === 'thinking' || block.type === 'redacted_thinking');
  return { ...result, thinking_blocks: signed };
}

async function image(client, opts) {
  const { mediaType, data } = imageSource(opts.image);
  const message = await client.messages.create({
    model: opts.model,
    max_tokens: 256,
    messages: [
      {
        role: 'user',
        content: [
          { type: 'image', source: { type: 'base64', media_type: mediaType, data } },
          { type: 'text', text: opts.prompt ?? 'What colour is this image? One word.' },
        ],
      },
    ],
  });
  return { text: textOf(message), media_type: mediaType, message };
}

async function countTokens(client, opts) {
  const { max_tokens: _unused, ...params } = helloParams(opts);
  const count = await client.messages.countTokens({ ...params, tools: [WEATHER_TOOL] });
  return { count };
}

async function unknownModel(client, opts) {
  return create(client, { ...opts, model: opts.badModel });
}

// Error scenarios run the same calls; they default to no SDK retries so the first answer is seen.
const SCENARIOS = {
  create,
  stream,
  tools,
  thinking,
  image,
  count_tokens: countTokens,
  unknown_model: unknownModel,
  rate_limited: create,
  midstream_error: stream,
};
const NO_RETRY_BY_DEFAULT = new Set(['unknown_model', 'rate_limited', 'midstream_error']);

await main(SCENARIOS, (scenario, opts, fetch) => {
  const retries = opts.maxRetries ?? (NO_RETRY_BY_DEFAULT.has(opts.scenario) ? 0 : undefined);
  return scenario(makeClient({ ...opts, maxRetries: retries }, fetch), opts);
});
