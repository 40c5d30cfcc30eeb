// restart.test.js: the browser client survives parleyd restarts on the
// same database and port (SIGKILL, then SIGTERM): it shows itself
// offline, reconnects by itself, resubscribes with since = the last seq it
// saw, sends what was typed while offline once, and shows every message
// exactly once, in seq order.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as h from '../lib/harness.js';

const extraArgs = process.env.PARLEY_WEB_ROOT
    ? ['--web-root', process.env.PARLEY_WEB_ROOT] : [];

let dir;
let server;
let browser;
let alice;
let bob;

// While the server is down the browser logs failed WebSocket attempts;
// those are expected here. Anything else is a problem.
function realProblems(p) {
    return p.problems.filter((s) => !/WebSocket connection to .* failed/.test(s));
}

async function waitState(page, state, ms = 15000) {
    await page.locator('#conn-state[data-state="' + state + '"]')
        .waitFor({ timeout: ms });
}

// Every message shown once, seqs 1..n with no gap, and these texts (in
// any order: who reached the restarted server first is a race).
async function checkLog(page, texts) {
    const log = await h.waitForTexts(page, texts, 15000, false);
    assert.deepEqual(log.map((m) => m.seq),
                     Array.from({ length: log.length }, (_, i) => i + 1),
                     'seqs 1..n, each once, in order');
    assert.deepEqual(log.map((m) => m.text).sort(), [...texts].sort(),
                     'exactly these messages');
    return log;
}

before(async () => {
    dir = h.makeTempDir();
    server = await h.startServer({ dir, args: extraArgs });
    browser = await h.launchBrowser();
    alice = await h.newPage(browser);
    bob = await h.newPage(browser);
    await h.enterRoom(alice.page, server.url, 'alice', 'ops');
    await h.enterRoom(bob.page, server.url, 'bob', 'ops');
});

after(async () => {
    if (browser)
        await browser.close();
    if (server) {
        const res = await h.stopServer(server, 'SIGTERM');
        assert.deepEqual(res, { code: 0, signal: null },
                         'parleyd exits 0 on SIGTERM');
    }
    if (dir)
        h.removeTempDir(dir);
    assert.deepEqual([...realProblems(alice), ...realProblems(bob)], []);
});

test('a SIGKILL restart loses nothing and shows nothing twice', async () => {
    await h.sendMessage(alice.page, 'before the crash');
    await h.sendMessage(bob.page, 'me too');
    await checkLog(alice.page, ['before the crash', 'me too']);
    await checkLog(bob.page, ['before the crash', 'me too']);

    const port = server.port;
    const res = await h.stopServer(server, 'SIGKILL');
    assert.equal(res.signal, 'SIGKILL');
    await waitState(alice.page, 'offline');
    await waitState(bob.page, 'offline');
    assert.match(await alice.page.locator('#conn-state').innerText(),
                 /offline/i);

    // Typed while offline: kept in the outbox, sent after reconnecting.
    await h.sendMessage(alice.page, 'typed while offline');
    await alice.page.getByText('Waiting for connection…').waitFor();
    await alice.page.screenshot({ path: h.screenshotPath('chat-offline.png') });

    server = await h.restartServer({ dir, port, args: extraArgs });
    assert.equal(server.port, port);
    // Published before the browsers are back: they must fetch it with
    // since, not miss it.
    await h.publish(server, { topic: 'chat/ops',
                              data: { text: 'while you were away' } });

    await waitState(alice.page, 'online', 20000);
    await waitState(bob.page, 'online', 20000);
    await h.sendMessage(bob.page, 'after the restart');
    const texts = ['before the crash', 'me too', 'typed while offline',
                   'while you were away', 'after the restart'];
    await checkLog(alice.page, texts);
    await checkLog(bob.page, texts);
    assert.equal(await alice.page.locator('#pending-list .msg').count(), 0,
                 'the outbox is empty');
    // Presence came back too.
    await h.waitFor(async () => (await alice.page.locator(
        '#members .member-name').allTextContents()).join() === 'alice,bob',
        10000, 'both members after the restart');
});

test('a SIGTERM restart is survived as well', async () => {
    const port = server.port;
    const res = await h.stopServer(server, 'SIGTERM');
    assert.deepEqual(res, { code: 0, signal: null });
    await waitState(bob.page, 'offline');
    server = await h.restartServer({ dir, port, args: extraArgs });
    await waitState(alice.page, 'online', 20000);
    await waitState(bob.page, 'online', 20000);
    await h.sendMessage(alice.page, 'second restart done');
    const texts = ['before the crash', 'me too', 'typed while offline',
                   'while you were away', 'after the restart',
                   'second restart done'];
    await checkLog(alice.page, texts);
    await checkLog(bob.page, texts);

    // A fresh page sees the same history from the restarted server.
    const carol = await h.newPage(browser);
    await h.enterRoom(carol.page, server.url, 'carol', 'ops');
    await checkLog(carol.page, texts);
    await carol.context.close();
    assert.deepEqual(realProblems(carol), []);
});
