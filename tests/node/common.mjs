// Shared plumbing for the client drivers (anthropic_sdk.mjs, ai_sdk.mjs).
//
// Contract with tests/clients.py: a driver takes a scenario name as its first argument and its
// settings from flags or VERTEXCHAT_* environment variables, runs one real client against the
// server, and prints exactly ONE JSON line on stdout: {"scenario", "ok", ..., "requests": [...]}.
// A client-visible failure (an HTTP error, an in-stream error, a dropped socket) is a result, not a
// crash: it is reported as {"ok": false, "error": {...}} with exit code 0. Exit code 2 is a usage
// error; anything else is a driver bug.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const FLAGS = {
  'base-url': { type: 'string', env: 'VERTEXCHAT_BASE_URL' },
  token: { type: 'string', env: 'VERTEXCHAT_TOKEN' },
  model: { type: 'string', env: 'VERTEXCHAT_MODEL', default: 'claude-sonnet-4-5' },
  'bad-model': { type: 'string', env: 'VERTEXCHAT_BAD_MODEL', default: 'claude-no-such-model' },
  'max-retries': { type: 'string', env: 'VERTEXCHAT_MAX_RETRIES' },
  auth: { type: 'string', env: 'VERTEXCHAT_AUTH', default: 'api-key' },
  prompt: { type: 'string', env: 'VERTEXCHAT_PROMPT' },
  image: { type: 'string', env: 'VERTEXCHAT_IMAGE' },
  raw: { type: 'boolean', env: 'VERTEXCHAT_RAW' },
};

export class UsageError extends Error {}

/** Parse argv + environment into {scenario, baseURL, token, model, ...}; flags win over env. */
export function readOptions(scenarios, argv = process.argv.slice(2), env = process.env) {
  const spec = Object.fromEntries(Object.entries(FLAGS).map(([name, { type }]) => [name, { type }]));
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: spec, allowPositionals: true });
  } catch (err) {
    throw new UsageError(err.message);
  }
  const [scenario] = parsed.positionals;
  if (!scenarios.includes(scenario)) {
    throw new UsageError(`scenario must be one of: ${scenarios.join(', ')} (got ${scenario ?? 'nothing'})`);
  }
  const value = (name) => {
    const { env: key, default: fallback, type } = FLAGS[name];
    const fromEnv = env[key];
    if (parsed.values[name] !== undefined) return parsed.values[name];
    if (fromEnv !== undefined && fromEnv !== '') return type === 'boolean' ? fromEnv === '1' : fromEnv;
    return fallback;
  };
  const baseURL = value('base-url');
  const token = value('token');
  if (!baseURL || !token) throw new UsageError('--base-url and --token (or VERTEXCHAT_BASE_URL, VERTEXCHAT_TOKEN) are required');
  const retries = value('max-retries');
  const maxRetries = retries === undefined ? undefined : Number(retries);
  if (maxRetries !== undefined && !(Number.isInteger(maxRetries) && maxRetries >= 0)) throw new UsageError(`--max-retries must be >= 0, got ${retries}`);
  return {
    scenario,
    baseURL: baseURL.replace(/\/+$/, ''),
    token,
    model: value('model'),
    badModel: value('bad-model'),
    maxRetries,
    auth: value('auth'),
    prompt: value('prompt'),
    image: value('image'),
    raw: Boolean(value('raw')),
  };
}

/** An image content source: the file given by --image, else a generated 8x8 red PNG. */
export function imageSource(path) {
  if (!path) {
    return { mediaType: 'image/png', data: RED_PNG };
  }
  const ext = path.split('.').pop().toLowerCase();
  const mediaType = { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp' }[ext];
  if (!mediaType) throw new UsageError(`--image must be png, jpeg, gif or webp: ${path}`);
  return { mediaType, data: readFileSync(path).toString('base64') };
}

// 8x8 pixels of pure red (written by a few lines of zlib + struct, not copied from anywhere).
const RED_PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAEklEQVR4nGP4z8CAFWEXHbQSACj/P8Fu7N9hAAAAAElFTkSuQmCC';

/**
 * A fetch that records every request the client makes: method, path with query, status, which
 * credential header went out (its name, never its value), the anthropic-beta header, and for
 * event streams the event names as they arrived on the wire (pings included, which the SDKs hide).
 * With `raw`, the response body text is kept too, for byte-for-byte comparisons.
 */
export function recordingFetch(log, { raw = false } = {}) {
  const pending = [];
  const fetchAndRecord = async (input, init = {}) => {
    // Read the request without building a Request from it, which could consume a streamed body.
    const asRequest = input instanceof Request ? input : null;
    const url = new URL(asRequest ? asRequest.url : String(input));
    const headers = new Headers(init.headers ?? asRequest?.headers);
    const entry = {
      method: init.method ?? asRequest?.method ?? 'GET',
      path: url.pathname + url.search,
      status: null,
      auth: headers.has('x-api-key') ? 'x-api-key' : headers.has('authorization') ? 'authorization' : null,
      anthropic_beta: headers.get('anthropic-beta'),
      anthropic_version: headers.get('anthropic-version'),
    };
    log.push(entry);
    let response;
    try {
      response = await fetch(input, init);
    } catch (err) {
      entry.error = String(err?.cause?.code ?? err?.cause?.message ?? err?.message ?? err);
      throw err;
    }
    entry.status = response.status;
    entry.content_type = response.headers.get('content-type');
    if (!response.body) return response;
    const streaming = (entry.content_type ?? '').includes('text/event-stream');
    if (!streaming && !raw) return response;
    const [forClient, forLog] = response.body.tee();
    pending.push(drain(forLog, entry, { streaming, raw }));
    return new Response(forClient, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
  fetchAndRecord.settled = () => Promise.allSettled(pending);
  return fetchAndRecord;
}

async function drain(stream, entry, { streaming, raw }) {
  const decoder = new TextDecoder();
  let text = '';
  try {
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
    text += decoder.decode();
  } catch (err) {
    entry.body_error = String(err?.cause?.code ?? err?.cause?.message ?? err?.message ?? err);
  }
  if (streaming) {
    entry.wire_events = [...text.matchAll(/^event: ?(.*)$/gm)].map((m) => m[1].trim());
    entry.wire_data_lines = [...text.matchAll(/^data:/gm)].length;
  }
  if (raw) entry.raw = text;
}

/** What a client saw when a call failed: status, API error type, message, and the useful headers. */
export function describeError(err) {
  const headers = err?.headers ?? err?.responseHeaders;
  const header = (name) => (typeof headers?.get === 'function' ? headers.get(name) : headers?.[name]) ?? null;
  const body = err?.error ?? err?.data ?? parseJSON(err?.responseBody);
  const described = {
    class: err?.constructor?.name ?? typeof err,
    name: err?.name ?? null,
    message: String(err?.message ?? err),
    status: err?.status ?? err?.statusCode ?? null,
    type: body?.error?.type ?? body?.type ?? null,
    code: body?.error?.code ?? body?.code ?? null,
    body: body ?? null,
    retry_after: header('retry-after'),
    request_id: header('request-id') ?? header('x-request-id'),
  };
  if (err?.cause) described.cause = String(err.cause?.code ?? err.cause?.message ?? err.cause);
  // The AI SDK wraps the last failure in a RetryError after its retries.
  if (err?.lastError) {
    described.last_error = describeError(err.lastError);
    described.attempts = err.errors?.length ?? null;
  }
  return described;
}

function parseJSON(text) {
  if (typeof text !== 'string') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Run one scenario and print its single JSON line. */
export async function main(scenarios, run) {
  let options;
  try {
    options = readOptions(Object.keys(scenarios));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`usage: ${err.message}\n`);
    process.exit(2);
  }
  const requests = [];
  const fetch = recordingFetch(requests, { raw: options.raw });
  let result;
  try {
    result = { ok: true, ...(await run(scenarios[options.scenario], options, fetch)) };
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`usage: ${err.message}\n`);
      process.exit(2);
    }
    result = { ok: false, error: err?.described ?? describeError(err), ...(err?.partial ?? {}) };
  }
  await fetch.settled();
  process.stdout.write(`${JSON.stringify({ scenario: options.scenario, ...result, requests })}\n`);
}

/** Attach what a stream delivered before it failed to the error, so the report keeps it. */
export function withPartial(err, partial) {
  if (err && typeof err === 'object') err.partial = partial;
  return err;
}
