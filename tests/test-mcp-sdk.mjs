// SPDX-License-Identifier: LGPL-2.1-or-later
// The official MCP TypeScript SDK's client (tests/mcp/package.json, installed
// under build/ by tests/test-mcp-daemon.c) against a real airlockd and guest:
// over the streamable HTTP transport on the TCP listener with a bearer token,
// and over stdio through `airlock mcp`. Run by tests/test-mcp-daemon.c, which
// starts the daemon and passes where it is in the environment:
//   ALK_MCP_MODULES  node_modules dir   ALK_TCP_URL, ALK_WRITE_TOKEN, ALK_READ_TOKEN
//   ALK_SOCKET       the unix socket    ALK_CLI_BIN  the airlock binary
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(process.env.ALK_MCP_MODULES + '/');
const { Client } = require('@modelcontextprotocol/sdk/client/index.js');
const { StreamableHTTPClientTransport } = require('@modelcontextprotocol/sdk/client/streamableHttp.js');
const { StdioClientTransport } = require('@modelcontextprotocol/sdk/client/stdio.js');

const TOOLS = ['computer', 'exec', 'file_read', 'file_write', 'sandbox_create', 'sandbox_destroy',
	'sandbox_inspect', 'sandbox_list', 'sandbox_pause', 'sandbox_resume', 'screenshot',
	'set_allowlist'];

function http(token) {
	return new StreamableHTTPClientTransport(new URL(process.env.ALK_TCP_URL + '/mcp'), {
		requestInit: { headers: { Authorization: `Bearer ${token}` } },
	});
}

function stdio() {
	return new StdioClientTransport({
		command: process.env.ALK_CLI_BIN,
		args: ['--socket', process.env.ALK_SOCKET, 'mcp'],
		stderr: 'inherit',
	});
}

async function connect(transport) {
	const client = new Client({ name: 'airlock-test', version: '0.1.0' });
	await client.connect(transport);
	return client;
}

async function call(client, name, args) {
	const r = await client.callTool({ name, arguments: args }, undefined, { timeout: 300000 });
	return r;
}

async function ok(client, name, args) {
	const r = await call(client, name, args);
	assert.equal(r.isError, false, `${name}: ${JSON.stringify(r.content)}`);
	assert.deepEqual(JSON.parse(r.content[0].text), r.structuredContent);
	return r.structuredContent;
}

async function task(client, label) {
	const { tools } = await client.listTools();
	assert.deepEqual(tools.map((t) => t.name).sort(), TOOLS);
	for (const t of tools)
		assert.equal(t.inputSchema.additionalProperties, false, t.name);

	const sb = await ok(client, 'sandbox_create', { ttl_s: 600, labels: { test: label } });
	assert.equal(sb.state, 'ready');
	const listed = await ok(client, 'sandbox_list', {});
	assert.ok(listed.sandboxes.some((s) => s.id === sb.id));

	let x = await ok(client, 'exec', { sandbox: sb.id, command: 'echo hello; echo oops >&2; exit 3' });
	assert.equal(x.exit_code, 3);
	assert.equal(x.stdout, 'hello\n');
	assert.equal(x.stderr, 'oops\n');
	assert.equal(x.truncated, false);
	x = await ok(client, 'exec', { sandbox: sb.id, argv: ['cat'], stdin: 'from stdin' });
	assert.equal(x.stdout, 'from stdin');
	assert.equal(x.exit_code, 0);

	const text = `written by ${label}\n`;
	await ok(client, 'file_write', { sandbox: sb.id, path: '/tmp/t.txt', content: text });
	const back = await ok(client, 'file_read', { sandbox: sb.id, path: '/tmp/t.txt' });
	assert.equal(back.content, text);
	x = await ok(client, 'exec', { sandbox: sb.id, argv: ['cat', '/tmp/t.txt'] });
	assert.equal(x.stdout, text); // the guest has it, not just the daemon
	const bin = Buffer.from([0, 1, 2, 255, 254]).toString('base64');
	await ok(client, 'file_write', { sandbox: sb.id, path: '/tmp/b', content_b64: bin });
	assert.equal((await ok(client, 'file_read', { sandbox: sb.id, path: '/tmp/b' })).content_b64, bin);

	// requests side by side: a ping is answered while a command runs
	const order = [];
	await Promise.all([
		ok(client, 'exec', { sandbox: sb.id, command: 'sleep 2' }).then(() => order.push('exec')),
		client.ping().then(() => order.push('ping')),
	]);
	assert.deepEqual(order, ['ping', 'exec']);
	// a request the client cancels (notifications/cancelled) kills its command
	const sleeping = 'cat /proc/[0-9]*/comm 2>/dev/null | grep -cx sleep || true';
	const count = async () => Number((await ok(client, 'exec', { sandbox: sb.id, command: sleeping })).stdout);
	const until = async (want) => {
		for (const deadline = Date.now() + 60000; Date.now() < deadline;) {
			if (await count() === want)
				return;
			await new Promise((r) => setTimeout(r, 100));
		}
		assert.fail(`never ${want} sleep processes`);
	};
	const ac = new AbortController();
	const slow = client.callTool({ name: 'exec', arguments: { sandbox: sb.id, command: 'sleep 300' } },
		undefined, { signal: ac.signal, timeout: 300000 });
	await until(1);
	ac.abort();
	await assert.rejects(slow);
	await until(0);
	x = await ok(client, 'exec', { sandbox: sb.id, command: 'sleep 60', timeout_s: 1 });
	assert.equal(x.timed_out, true);
	assert.equal((await ok(client, 'sandbox_inspect', { sandbox: sb.id })).id, sb.id);
	// the manager's asynchronous changes: pause, resume, an allowlist (refused in mode none)
	assert.equal((await ok(client, 'sandbox_pause', { sandbox: sb.id })).state, 'paused');
	const refused = await call(client, 'exec', { sandbox: sb.id, argv: ['true'] });
	assert.equal(refused.isError, true);
	assert.match(refused.content[0].text, /conflict/);
	assert.equal((await ok(client, 'sandbox_resume', { sandbox: sb.id })).state, 'ready');
	const allow = await call(client, 'set_allowlist', { sandbox: sb.id, allow: ['pypi.org:443'] });
	assert.equal(allow.isError, true);
	assert.match(allow.content[0].text, /conflict/);

	// no display: the screen tools say so
	const blind = await call(client, 'screenshot', { sandbox: sb.id });
	assert.equal(blind.isError, true);
	assert.match(blind.content[0].text, /display/);

	// a failing tool is a result with isError, not a protocol error
	const missing = await call(client, 'file_read', { sandbox: sb.id, path: '/no/such' });
	assert.equal(missing.isError, true);
	const none = await call(client, 'exec', { sandbox: 'ffffffffffff', argv: ['true'] });
	assert.equal(none.isError, true);
	assert.match(none.content[0].text, /not_found/);
	// schema violations and unknown tools are JSON-RPC errors (-32602)
	await assert.rejects(call(client, 'exec', { sandbox: sb.id, argv: ['true'], bogus: 1 }),
		(e) => e.code === -32602);
	await assert.rejects(call(client, 'exec', { sandbox: sb.id }), (e) => e.code === -32602);
	await assert.rejects(call(client, 'no_such_tool', {}), (e) => e.code === -32602);

	const gone = await ok(client, 'sandbox_destroy', { sandbox: sb.id });
	assert.equal(gone.state, 'destroyed');
	await client.close();
	console.log(`${label}: ok`);
}

function isPng(item, width, height) {
	assert.equal(item.type, 'image');
	assert.equal(item.mimeType, 'image/png');
	const png = Buffer.from(item.data, 'base64');
	assert.ok(png.subarray(0, 8).equals(Buffer.from('\x89PNG\r\n\x1a\n', 'latin1')));
	assert.equal(png.readUInt32BE(16), width);
	assert.equal(png.readUInt32BE(20), height);
}

// screenshot and computer on a sandbox with a display: the minimal image's
// root shell on tty1 takes the keys, and an exec sees what they typed
async function screen(client) {
	const sb = await ok(client, 'sandbox_create',
		{ ttl_s: 600, display: { width: 1024, height: 768 }, labels: { test: 'screen' } });
	const tty = 'for p in /proc/[0-9]*; do [ "$(readlink $p/fd/0)" = /dev/tty1 ] && echo yes; done; true';
	for (const deadline = Date.now() + 60000; ;) {
		if ((await ok(client, 'exec', { sandbox: sb.id, command: tty })).stdout.includes('yes'))
			break;
		assert.ok(Date.now() < deadline, 'no shell on tty1');
		await new Promise((r) => setTimeout(r, 100));
	}
	const r = await call(client, 'screenshot', { sandbox: sb.id, width: 640, height: 480 });
	assert.equal(r.isError, false, JSON.stringify(r.content));
	const shot = r.structuredContent;
	assert.equal(shot.width, 640);
	assert.equal(shot.height, 480);
	assert.ok(shot.screen.width >= 320 && shot.screen.height >= 200);
	isPng(r.content[0], 640, 480);
	assert.match(r.content[1].text, new RegExp(`640x480 of the ${shot.screen.width}x${shot.screen.height} screen`));

	const typed = await call(client, 'computer', {
		sandbox: sb.id, screenshot: true, scale_to: { width: 640, height: 480 },
		actions: [{ action: 'type', text: 'echo $((6*7)) > /tmp/m' }, { action: 'key', keys: 'Return' },
			{ action: 'screenshot' }],
	});
	assert.equal(typed.isError, false, JSON.stringify(typed.content));
	const res = JSON.parse(typed.content[0].text);
	assert.equal(res.results.length, 3);
	assert.ok(res.results.every((a) => a.ok));
	assert.equal(res.results[2].screenshot.image, 0);
	assert.equal(res.screenshot.image, 1);
	assert.equal(typed.content.length, 3);
	isPng(typed.content[1], 640, 480);
	isPng(typed.content[2], 640, 480);
	for (const deadline = Date.now() + 30000; ;) {
		const k = await ok(client, 'exec', { sandbox: sb.id, command: 'cat /tmp/m 2>/dev/null; true' });
		if (k.stdout === '42\n')
			break;
		assert.ok(Date.now() < deadline, `/tmp/m holds ${JSON.stringify(k.stdout)}`);
		await new Promise((r) => setTimeout(r, 100));
	}
	// refused whole: the runner's checks are tool errors; the schema's, protocol errors
	const bad = await call(client, 'computer', {
		sandbox: sb.id, actions: [{ action: 'type', text: 'touch /tmp/bad' }, { action: 'key', keys: 'nokey' }],
	});
	assert.equal(bad.isError, true);
	assert.match(bad.content[0].text, /invalid_request.*action 1/);
	await assert.rejects(call(client, 'computer', { sandbox: sb.id, actions: 'key a' }),
		(e) => e.code === -32602);
	const x = await ok(client, 'exec', { sandbox: sb.id, command: 'test -e /tmp/bad; echo $?' });
	assert.equal(x.stdout, '1\n');
	await ok(client, 'sandbox_destroy', { sandbox: sb.id });
	console.log('screen: ok');
}

// the filesystem layout through sandbox_create: a read-only root, a
// /workspace disk and a named volume (made and removed with the CLI over
// the socket: scope admin), refused whole when an attachment is bad
async function layout(client) {
	const cli = (...args) => execFileSync(process.env.ALK_CLI_BIN,
		['--socket', process.env.ALK_SOCKET, ...args], { encoding: 'utf8' });
	cli('volume', 'create', 'mcpvol', '--size', '16');
	const sb = await ok(client, 'sandbox_create', {
		ttl_s: 600, root: 'readonly', workspace_mib: 32, labels: { test: 'layout' },
		volumes: [{ name: 'mcpvol', path: '/data', readonly: false }],
	});
	assert.equal(sb.limits.root, 'readonly');
	assert.equal(sb.limits.workspace_mib, 32);
	assert.deepEqual(sb.volumes.map((v) => [v.name, v.path, v.readonly]), [['mcpvol', '/data', false]]);
	const x = await ok(client, 'exec', {
		sandbox: sb.id,
		command: 'touch /usr/x 2>/dev/null; echo $?; echo w > /workspace/w && echo v > /data/v && cat /workspace/w /data/v',
	});
	assert.equal(x.stdout, '1\nw\nv\n');
	const bad = await call(client, 'sandbox_create', { volumes: [{ name: '../up', path: '/data' }] });
	assert.equal(bad.isError, true);
	assert.match(bad.content[0].text, /invalid_request.*volumes\[0\]/);
	await assert.rejects(call(client, 'sandbox_create', { volumes: 'mcpvol:/data' }),
		(e) => e.code === -32602);
	await ok(client, 'sandbox_destroy', { sandbox: sb.id });
	cli('volume', 'rm', 'mcpvol');
	console.log('layout: ok');
}

async function readOnly() {
	const client = await connect(http(process.env.ALK_READ_TOKEN));
	const r = await call(client, 'sandbox_create', {});
	assert.equal(r.isError, true);
	assert.match(r.content[0].text, /needs scope write/);
	await ok(client, 'sandbox_list', {});
	await client.close();
	console.log('read token: ok');
}

await task(await connect(http(process.env.ALK_WRITE_TOKEN)), 'http');
{
	const client = await connect(http(process.env.ALK_WRITE_TOKEN));
	await screen(client);
	await layout(client);
	await client.close();
}
await task(await connect(stdio()), 'stdio');
await readOnly();
