// harness.js: what every e2e test file shares: starting and stopping a
// real parleyd (binary from $PARLEYD, loopback only, port 0 or a given
// port, database in a temporary directory), launching the system Chromium
// through playwright-core, the Parley UI helpers (join a room, read the
// message log) and a bounded poll. Every wait here has a deadline.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ARTIFACTS = path.resolve(here, '..', 'artifacts');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

const READY_MS = 10000;
const STOP_MS = 10000;

function findParleyd() {
    if (process.env.PARLEYD)
        return process.env.PARLEYD;
    // Convenience for `npm test` by hand: the usual build directories.
    const root = path.resolve(here, '..', '..', '..');
    for (const dir of ['build', 'build-web', 'build-lead']) {
        const p = path.join(root, dir, 'server', 'parleyd');
        if (existsSync(p))
            return p;
    }
    throw new Error('set PARLEYD to the parleyd binary');
}

export function makeTempDir() {
    return mkdtempSync(path.join(tmpdir(), 'parley-e2e-'));
}

export function removeTempDir(dir) {
    rmSync(dir, { recursive: true, force: true });
}

// Start parleyd; resolves with {proc, port, url, dir, log()} once it
// printed its "listening on" line. dir holds p.db; port 0 picks one.
export function startServer({ dir, port = 0, args = [] }) {
    const bin = findParleyd();
    const argv = ['--port', String(port), '--bind', '127.0.0.1',
                  '--db', path.join(dir, 'p.db'), ...args];
    const proc = spawn(bin, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const keep = (chunk) => {
        out += chunk.toString();
        if (out.length > 200000)
            out = out.slice(-100000);
    };
    proc.stdout.on('data', keep);
    proc.stderr.on('data', keep);
    const server = { proc, dir, port: 0, url: '', log: () => out };
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
            proc.kill('SIGKILL');
            reject(new Error('parleyd not ready in ' + READY_MS + ' ms:\n' +
                             out));
        }, READY_MS);
        const onData = () => {
            const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
            if (!m)
                return;
            clearTimeout(timer);
            proc.stderr.off('data', onData);
            proc.off('exit', onExit);
            server.port = Number(m[1]);
            server.url = 'http://127.0.0.1:' + server.port;
            resolve(server);
        };
        const onExit = (code, sig) => {
            clearTimeout(timer);
            reject(new Error('parleyd exited (' + (code ?? sig) +
                             ') before it was ready:\n' + out));
        };
        proc.stderr.on('data', onData);
        proc.on('exit', onExit);
        proc.on('error', (e) => {
            clearTimeout(timer);
            reject(e);
        });
    });
}

// Stop parleyd with a signal; resolves with {code, signal} once it
// exited. SIGKILL after STOP_MS, and then it rejects.
export function stopServer(server, signal = 'SIGTERM') {
    const proc = server.proc;
    if (proc.exitCode !== null || proc.signalCode !== null)
        return Promise.resolve({ code: proc.exitCode,
                                 signal: proc.signalCode });
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
            proc.kill('SIGKILL');
            reject(new Error('parleyd did not stop within ' + STOP_MS +
                             ' ms after ' + signal + ':\n' + server.log()));
        }, STOP_MS);
        proc.once('exit', (code, sig) => {
            clearTimeout(timer);
            resolve({ code, signal: sig });
        });
        proc.kill(signal);
    });
}

// Start parleyd on a port that was just in use (restart tests). The old
// socket may linger for a moment, so a failed start is retried briefly.
export async function restartServer({ dir, port, args = [] }) {
    const deadline = Date.now() + 10000;
    for (;;) {
        try {
            return await startServer({ dir, port, args });
        } catch (e) {
            if (Date.now() > deadline)
                throw e;
            await sleep(200);
        }
    }
}

export function sleep(ms) {
    return new Promise((r) => setTimeout(r, ms));
}

export async function launchBrowser() {
    return chromium.launch({
        executablePath: CHROMIUM,
        args: ['--no-sandbox', '--disable-gpu',
               '--disable-background-networking',
               '--disable-component-update', '--disable-sync',
               '--no-first-run'],
        timeout: 30000,
    });
}

// A new context and page that records console errors, page errors and
// dialogs (an alert() would mean injected script ran).
export async function newPage(browser, opts = {}) {
    const context = await browser.newContext({
        viewport: opts.viewport || { width: 1280, height: 800 },
        deviceScaleFactor: opts.deviceScaleFactor || 1,
        isMobile: !!opts.isMobile,
        hasTouch: !!opts.isMobile,
    });
    context.setDefaultTimeout(10000);
    const page = await context.newPage();
    const problems = [];
    page.on('console', (msg) => {
        if (msg.type() === 'error')
            problems.push('console: ' + msg.text());
    });
    page.on('pageerror', (err) => problems.push('pageerror: ' + err.message));
    page.on('dialog', (d) => {
        problems.push('dialog: ' + d.message());
        d.dismiss().catch(() => {});
    });
    return { context, page, problems };
}

// Poll fn until it returns a truthy value; rejects after ms.
export async function waitFor(fn, ms = 10000, what = 'condition') {
    const deadline = Date.now() + ms;
    let last;
    for (;;) {
        try {
            last = await fn();
            if (last)
                return last;
        } catch (e) {
            last = e;
        }
        if (Date.now() > deadline)
            throw new Error('timed out waiting for ' + what + ' (last: ' +
                            (last instanceof Error ? last.message
                                                   : JSON.stringify(last)) +
                            ')');
        await sleep(100);
    }
}

export async function publish(server, body) {
    const res = await fetch(server.url + '/api/publish', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(5000),
    });
    const json = await res.json();
    if (res.status !== 200)
        throw new Error('publish: ' + res.status + ' ' + JSON.stringify(json));
    return json;
}

export function screenshotPath(name) {
    mkdirSync(ARTIFACTS, { recursive: true });
    return path.join(ARTIFACTS, name);
}

// -- Parley UI helpers ---------------------------------------------------

export function ui(page) {
    return {
        name: page.getByRole('textbox', { name: 'Name', exact: true }),
        room: page.getByRole('textbox', { name: 'Room', exact: true }),
        join: page.getByRole('button', { name: 'Join', exact: true }),
        message: page.getByRole('textbox', { name: 'Message', exact: true }),
        send: page.getByRole('button', { name: 'Send', exact: true }),
        log: page.getByRole('log', { name: 'Messages', exact: true }),
        members: page.getByRole('list', { name: 'Members', exact: true }),
        status: page.locator('#conn-state'),
    };
}

export async function waitOnline(page, ms = 10000) {
    await page.locator('#conn-state[data-state="online"]')
        .waitFor({ state: 'visible', timeout: ms });
}

// Open the app, set the display name and join a room.
export async function enterRoom(page, baseUrl, name, room) {
    const u = ui(page);
    await page.goto(baseUrl + '/', { timeout: 10000 });
    await u.name.fill(name);
    await u.name.press('Enter');
    await u.room.fill(room);
    await u.join.click();
    await waitOnline(page);
    await page.getByRole('heading', { level: 1, name: room, exact: true })
        .waitFor({ timeout: 10000 });
    // Joined when we are listed among the members (a list that a phone
    // layout hides behind a button).
    await page.locator('#members .member-name', { hasText: name })
        .first().waitFor({ state: 'attached', timeout: 10000 });
}

export async function sendMessage(page, text) {
    const u = ui(page);
    await u.message.fill(text);
    await u.message.press('Enter');
}

// The messages shown in the log: [{seq, from, text}], in display order.
// Grouped messages (same sender in a row) carry no sender line; the sender
// of the group's first message is used.
export async function readLog(page) {
    return page.evaluate(() => {
        const out = [];
        let from = null;
        for (const node of document.querySelectorAll(
            '#message-list .msg')) {
            const s = node.querySelector('.sender');
            if (s)
                from = s.textContent;
            out.push({
                seq: Number(node.dataset.seq),
                from,
                text: node.querySelector('.msg-text').textContent,
            });
        }
        return out;
    });
}

// Wait until the log holds each text exactly once (and, when ordered,
// in this order), then return the log.
export async function waitForTexts(page, texts, ms = 10000, ordered = true) {
    let shown = [];
    return waitFor(async () => {
        const log = await readLog(page);
        shown = log.map((m) => m.text);
        for (const t of texts) {
            if (shown.filter((x) => x === t).length !== 1)
                return false;
        }
        const idx = texts.map((t) => shown.indexOf(t));
        for (let i = 1; ordered && i < idx.length; i++) {
            if (idx[i] < idx[i - 1])
                return false;
        }
        return log;
    }, ms, 'messages ' + JSON.stringify(texts)).catch((e) => {
        e.message += '; shown: ' + JSON.stringify(shown.slice(-20));
        throw e;
    });
}

// One parleyd and one browser for a whole test file: registers node:test
// before/after hooks (the after hook stops the server, requires exit 0 on
// SIGTERM and no console error, page error or dialog in any page opened
// with env.open()). Returns env: {server, browser, open(opts)}.
export function serverPerFile(hooks, assert, args = []) {
    const env = { dir: null, server: null, browser: null, pages: [] };
    env.open = async (opts) => {
        const p = await newPage(env.browser, opts);
        env.pages.push(p);
        return p;
    };
    hooks.before(async () => {
        env.dir = makeTempDir();
        env.server = await startServer({ dir: env.dir, args });
        env.browser = await launchBrowser();
    });
    hooks.after(async () => {
        if (env.browser)
            await env.browser.close();
        if (env.server) {
            const res = await stopServer(env.server, 'SIGTERM');
            assert.deepEqual(res, { code: 0, signal: null },
                             'parleyd exits 0 on SIGTERM');
        }
        if (env.dir)
            removeTempDir(env.dir);
        const problems = env.pages.flatMap((p) => p.problems);
        assert.deepEqual(problems, [], 'no console errors, page errors or ' +
                         'dialogs in any page');
    });
    return env;
}
