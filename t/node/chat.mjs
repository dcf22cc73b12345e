#!/usr/bin/env node
/*
 * One chat completion through the official OpenAI Node SDK, for
 * t/40-openai-sdk.t: proves that a client written against OpenAI's API
 * keeps working behind the attest module, and that the module's failures
 * reach it as ordinary APIErrors carrying our reason code.
 *
 *   node t/node/chat.mjs http://127.0.0.1:PORT/v1 stream|complete
 *       [--test-mode stream_tamper] [--events N] [--event-size N]
 *       [--header 'Name: value']... [--retries N] [--model NAME]
 *
 * (--base URL and --mode MODE may replace the two positional arguments.)
 *
 * --mode stream streams (stream: true) and collects every chunk's delta
 * content; --mode complete makes one non-streaming call.  --test-mode,
 * --events and --event-size become the agent double's X-Test-Mode,
 * X-Test-Stream-Events and X-Test-Event-Size headers.
 *
 * Prints one JSON line and exits 0 whatever the outcome ("chunks" counts
 * every item the SDK's stream yielded, "foreign" those of them that are
 * not chat.completion.chunk objects):
 *
 *   {"ok": bool, "mode": "stream", "status": 200, "attestation": "...",
 *    "chunks": N, "foreign": N, "content": "...", "finish_reason": "stop",
 *    "error": null | {"status", "code", "type", "message", "name",
 *                     "api_error": bool}}
 *
 * Exit 2 on a usage error.
 */

import OpenAI from 'openai';

function usage(msg) {
    process.stderr.write(`chat.mjs: ${msg}\n`);
    process.exit(2);
}

function parseArgs(argv) {
    const opt = { base: null, mode: 'stream', testMode: null, events: null,
                  eventSize: null, headers: {}, retries: 0,
                  model: 'test-model' };
    const positional = [];
    for (let i = 0; i < argv.length; i++) {
        const name = argv[i];
        const value = argv[i + 1];
        if (!name.startsWith('--')) {
            positional.push(name);
            continue;
        }
        if (value === undefined) {
            usage(`${name} needs a value`);
        }
        i++;
        switch (name) {
        case '--base': opt.base = value; break;
        case '--mode': opt.mode = value; break;
        case '--test-mode': opt.testMode = value; break;
        case '--events': opt.events = value; break;
        case '--event-size': opt.eventSize = value; break;
        case '--retries': opt.retries = Number(value); break;
        case '--model': opt.model = value; break;
        case '--header': {
            const m = /^([^:]+):\s*(.*)$/.exec(value);
            if (!m) {
                usage(`bad --header "${value}"`);
            }
            opt.headers[m[1]] = m[2];
            break;
        }
        default:
            usage(`unknown option ${name}`);
        }
    }
    if (positional.length > 2) {
        usage('at most two positional arguments: BASE_URL MODE');
    }
    opt.base = positional[0] ?? opt.base;
    opt.mode = positional[1] ?? opt.mode;
    if (!opt.base) {
        usage('the base URL is required');
    }
    if (opt.mode !== 'stream' && opt.mode !== 'complete') {
        usage('--mode is stream or complete');
    }
    return opt;
}

function describeError(e) {
    /* APIError subclasses (InternalServerError for a 502...) carry the
     * JSON error object the module sent; anything else is a bug here or a
     * transport failure, reported by name */
    const api = e instanceof OpenAI.APIError;
    return {
        status: api && e.status !== undefined ? e.status : null,
        code: api ? (e.code ?? null) : null,
        type: api ? (e.type ?? null) : null,
        message: String(e && e.message !== undefined ? e.message : e),
        name: e && e.constructor ? e.constructor.name : typeof e,
        api_error: api,
    };
}

async function main() {
    const opt = parseArgs(process.argv.slice(2));

    const headers = { ...opt.headers };
    if (opt.testMode) {
        headers['X-Test-Mode'] = opt.testMode;
    }
    if (opt.events) {
        headers['X-Test-Stream-Events'] = opt.events;
    }
    if (opt.eventSize) {
        headers['X-Test-Event-Size'] = opt.eventSize;
    }

    /* no retries unless --retries: a 502 must surface once, as it
     * happened (--retries 2 is the SDK's own default) */
    const client = new OpenAI({ baseURL: opt.base, apiKey: 'sk-test',
                                maxRetries: opt.retries, timeout: 30000,
                                defaultHeaders: headers });

    const out = { ok: false, mode: opt.mode, status: null,
                  attestation: null, chunks: 0, foreign: 0, content: '',
                  finish_reason: null, error: null };
    const params = { model: opt.model,
                     messages: [{ role: 'user', content: 'Say hello.' }] };

    try {
        if (opt.mode === 'stream') {
            const { data: stream, response } = await client.chat.completions
                .create({ ...params, stream: true }).withResponse();
            out.status = response.status;
            out.attestation = response.headers.get('x-attestation-status');
            for await (const chunk of stream) {
                out.chunks++;
                /* what the SDK yields that is no completion chunk: the
                 * agent's "event: signature" when nothing strips it */
                if (!chunk || chunk.object !== 'chat.completion.chunk') {
                    out.foreign++;
                }
                const choice = chunk.choices && chunk.choices[0];
                if (choice && choice.delta && choice.delta.content) {
                    out.content += choice.delta.content;
                }
                if (choice && choice.finish_reason) {
                    out.finish_reason = choice.finish_reason;
                }
            }
        } else {
            const { data, response } = await client.chat.completions
                .create(params).withResponse();
            out.status = response.status;
            out.attestation = response.headers.get('x-attestation-status');
            out.content = data.choices[0].message.content;
            out.finish_reason = data.choices[0].finish_reason;
        }
        out.ok = true;
    } catch (e) {
        out.error = describeError(e);
    }

    process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
    process.stderr.write(`chat.mjs: ${e && e.stack ? e.stack : e}\n`);
    process.exit(1);
});
