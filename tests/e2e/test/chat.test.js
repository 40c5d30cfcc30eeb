// chat.test.js: the chat view in a real browser against a real parleyd:
// two users talking both ways, typing and presence, unread counts and the
// room list, history after a reload, older messages on scroll, markup
// shown literally, and screenshots at desktop and phone widths.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as h from '../lib/harness.js';

const extraArgs = process.env.PARLEY_WEB_ROOT
    ? ['--web-root', process.env.PARLEY_WEB_ROOT] : [];

let dir;
let server;
let browser;
const pages = [];   // every page opened, checked for errors at the end

async function open(opts) {
    const p = await h.newPage(browser, opts);
    pages.push(p);
    return p;
}

async function memberNames(page) {
    return page.getByRole('list', { name: 'Members', exact: true })
        .locator('.member-name').allTextContents();
}

before(async () => {
    dir = h.makeTempDir();
    server = await h.startServer({ dir, args: extraArgs });
    browser = await h.launchBrowser();
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
    const problems = pages.flatMap((p) => p.problems);
    assert.deepEqual(problems, [], 'no console errors, page errors or ' +
                     'dialogs in any page');
});

let alice;   // stays open across the tests below

test('two users chat both ways, see typing and presence', async () => {
    alice = await open();
    const bob = await open();
    await h.enterRoom(alice.page, server.url, 'alice', 'general');
    await h.enterRoom(bob.page, server.url, 'bob', 'general');

    await h.sendMessage(alice.page, 'hello bob');
    let log = await h.waitForTexts(bob.page, ['hello bob']);
    assert.equal(log.find((m) => m.text === 'hello bob').from, 'alice');

    // The Send button works as well as Enter.
    await h.ui(bob.page).message.fill('hi alice, how are you?');
    await h.ui(bob.page).send.click();
    log = await h.waitForTexts(alice.page, ['hello bob',
                                            'hi alice, how are you?']);
    assert.equal(log.find((m) => m.text === 'hi alice, how are you?').from,
                 'bob');
    await h.waitForTexts(bob.page, ['hello bob', 'hi alice, how are you?']);
    assert.equal(await h.ui(alice.page).message.inputValue(), '',
                 'the Message field is emptied after sending');

    // A day separator heads the messages.
    await alice.page.getByRole('log', { name: 'Messages' })
        .getByRole('separator', { name: 'Today' }).waitFor();

    // Typing indicator over typing/general: shown to the other user only.
    await h.ui(bob.page).message.pressSequentially('I am wri');
    await alice.page.locator('#typing')
        .getByText('bob is typing…', { exact: true }).waitFor();
    assert.equal(await bob.page.locator('#typing').textContent(), '');
    await h.ui(bob.page).message.press('Enter');
    await h.waitForTexts(alice.page, ['I am wri']);
    await h.waitFor(async () => (await alice.page.locator('#typing')
        .textContent()) === '', 5000, 'typing indicator to clear');

    // Presence: both, then only alice once bob's browser is gone.
    await h.waitFor(async () => {
        const names = await memberNames(alice.page);
        return names.join() === 'alice,bob' && names;
    }, 10000, 'alice and bob in Members');
    assert.deepEqual(await memberNames(bob.page), ['bob', 'alice'],
                     'each user lists themself first');
    await alice.page.screenshot({ path: h.screenshotPath('chat-desktop.png') });
    await bob.context.close();
    await h.waitFor(async () => {
        const names = await memberNames(alice.page);
        return names.join() === 'alice';
    }, 10000, 'bob to leave Members');
});

test('room list and unread counts', async () => {
    const u = h.ui(alice.page);
    await u.room.fill('random');
    await u.join.click();
    await alice.page.getByRole('heading', { level: 1, name: 'random',
                                            exact: true }).waitFor();
    const joined = alice.page.getByRole('list', { name: 'Your rooms' });
    const general = joined.getByRole('button', { name: /^general/ });

    // Two messages in general while alice looks at random: 2 unread.
    await h.publish(server, { topic: 'chat/general',
                              data: { text: 'news one' } });
    await h.publish(server, { topic: 'chat/general',
                              data: { text: 'news two' } });
    await joined.getByRole('button', { name: 'general, 2 unread' }).waitFor();
    assert.equal(await general.locator('.badge').innerText(), '2');
    assert.match(await alice.page.title(), /^\(2\) /);

    // A newcomer finds both rooms through the topics list and joins one.
    const carol = await open();
    await carol.page.goto(server.url + '/#/chat');
    await h.ui(carol.page).name.fill('carol');
    await h.ui(carol.page).name.press('Enter');
    const others = carol.page.getByRole('list', { name: 'Other rooms' });
    await others.getByRole('button', { name: /^random/ }).waitFor();
    await others.getByRole('button', { name: /^general/ }).click();
    await carol.page.getByRole('heading', { level: 1, name: 'general',
                                            exact: true }).waitFor();
    await h.waitForTexts(carol.page, ['hello bob', 'hi alice, how are you?',
                                      'I am wri', 'news one', 'news two']);
    assert.match(carol.page.url(), /#\/chat\/general$/);
    // carol's presence reaches alice in general, not in random.
    await h.waitFor(async () => (await memberNames(alice.page)).join() ===
                    'alice', 5000, 'random to list only alice');

    // Opening general clears its unread count.
    await general.click();
    await h.waitForTexts(alice.page, ['news one', 'news two']);
    await h.waitFor(async () => !/unread/.test(await general.textContent()),
                    5000, 'unread badge to clear');
    await h.waitFor(async () => (await memberNames(alice.page)).join() ===
                    'alice,carol', 5000, 'carol in general Members');
    await carol.context.close();
});

test('a reload shows the history', async () => {
    await alice.page.reload();
    await h.waitOnline(alice.page);
    // The joined rooms and the current one are remembered.
    await alice.page.getByRole('heading', { level: 1, name: 'general',
                                            exact: true }).waitFor();
    assert.equal(await h.ui(alice.page).name.inputValue(), 'alice');
    const log = await h.waitForTexts(alice.page, [
        'hello bob', 'hi alice, how are you?', 'I am wri', 'news one',
        'news two']);
    const seqs = log.map((m) => m.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
    assert.equal(new Set(seqs).size, seqs.length, 'no seq shown twice');
    await alice.page.getByRole('list', { name: 'Your rooms' })
        .getByRole('button', { name: /^random/ }).waitFor();
});

test('markup in messages is shown literally', async () => {
    const evil = '<img src=x onerror=alert(1)>';
    const evil2 = '<b>bold</b><script>alert(2)</script>';
    const dave = await open();
    await h.enterRoom(dave.page, server.url, '<i>dave</i>', 'general');
    await h.sendMessage(dave.page, evil);
    // Sent over dave's WebSocket; the next one goes over HTTP, which could
    // overtake it: wait until it is stored (shown) so the order is known.
    await h.waitForTexts(dave.page, [evil]);
    await h.publish(server, { topic: 'chat/general', data: { text: evil2 } });
    await h.publish(server, { topic: 'chat/general',
                              data: { n: 1, html: '<svg onload=alert(3)>' } });
    for (const p of [alice.page, dave.page]) {
        const log = await h.waitForTexts(p, [evil, evil2]);
        assert.equal(log.find((m) => m.text === evil).from, '<i>dave</i>');
        await p.getByRole('log', { name: 'Messages' })
            .getByText('<svg onload=alert(3)>', { exact: false }).waitFor();
        const injected = await p.evaluate(() => document.querySelectorAll(
            '#messages img, #messages b, #messages script, #messages svg, ' +
            '#messages i, #members i').length);
        assert.equal(injected, 0, 'no element was created from message data');
    }
    assert.ok(await alice.page.getByRole('list', { name: 'Members' })
        .getByText('<i>dave</i>', { exact: true }).isVisible());
    await dave.context.close();
});

test('scrolling up loads older messages', async () => {
    for (let i = 1; i <= 120; i++) {
        await h.publish(server, {
            topic: 'chat/long',
            data: { text: 'line ' + String(i).padStart(3, '0') },
        });
    }
    const u = h.ui(alice.page);
    await u.room.fill('long');
    await u.join.click();
    // The newest page of 50 first.
    let log = await h.waitForTexts(alice.page, ['line 071', 'line 120']);
    assert.equal(log.length, 50);
    assert.equal(log[0].seq, 71);
    await h.waitFor(() => alice.page.evaluate(() => {
        const l = document.getElementById('messages');
        return l.scrollHeight - l.scrollTop - l.clientHeight < 5;
    }), 5000, 'the log to start at the bottom');

    // Scroll to the top until the first message is there.
    await h.waitFor(async () => {
        await alice.page.evaluate(() => {
            document.getElementById('messages').scrollTop = 0;
        });
        log = await h.readLog(alice.page);
        return log.length === 120 && log;
    }, 15000, 'all 120 messages after scrolling up');
    assert.deepEqual(log.map((m) => m.seq),
                     Array.from({ length: 120 }, (_, i) => i + 1));
    assert.equal(log[0].text, 'line 001');
    await alice.page.getByText('This is the beginning of #long.').waitFor();
    // The view stayed near the messages it showed (not thrown to the end).
    const atBottom = await alice.page.evaluate(() => {
        const l = document.getElementById('messages');
        return l.scrollHeight - l.scrollTop - l.clientHeight < 5;
    });
    assert.equal(atBottom, false);
});

test('phone layout', async () => {
    const phone = await open({ viewport: { width: 390, height: 844 },
                               isMobile: true, deviceScaleFactor: 2 });
    await h.enterRoom(phone.page, server.url, 'erin', 'general');
    await h.waitForTexts(phone.page, ['news one', 'news two']);
    await h.sendMessage(phone.page, 'hello from a phone');
    await h.waitForTexts(phone.page, ['hello from a phone']);
    // Nothing wider than the screen.
    const overflow = await phone.page.evaluate(
        () => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, 'no horizontal page scroll');
    const send = await h.ui(phone.page).send.boundingBox();
    assert.ok(send && send.x + send.width <= 390 && send.y + send.height <= 844,
              'Send button on screen');
    await phone.page.screenshot({ path: h.screenshotPath('chat-phone.png') });
    // Members are one tap away.
    await phone.page.getByRole('button', { name: /^Members/ }).click();
    await phone.page.getByRole('list', { name: 'Members' })
        .getByText('erin', { exact: true }).waitFor();
    await phone.page.screenshot({
        path: h.screenshotPath('chat-phone-members.png') });
    await phone.context.close();
});

test('keyboard only: join, send, leave', async () => {
    const p = alice.page;
    const u = h.ui(p);
    await u.name.focus();
    await p.keyboard.press('Enter');        // confirms the name, moves on
    assert.equal(await p.evaluate(() => document.activeElement.id),
                 'room-input');
    await p.keyboard.type('kbd');
    await p.keyboard.press('Enter');        // submits the Join form
    await p.getByRole('heading', { level: 1, name: 'kbd', exact: true })
        .waitFor();
    assert.equal(await p.evaluate(() => document.activeElement.id),
                 'message-input', 'focus goes to the Message field');
    await p.keyboard.type('typed with keys');
    await p.keyboard.press('Shift+Enter');  // a new line, not a send
    await p.keyboard.type('second line');
    await p.keyboard.press('Enter');
    await h.waitForTexts(p, ['typed with keys\nsecond line']);
    await p.keyboard.press('Tab');
    assert.equal(await p.evaluate(() => document.activeElement.id), 'send');

    // Leave: the room goes from the list and the view moves on.
    await p.getByRole('button', { name: 'Leave', exact: true }).click();
    const joined = p.getByRole('list', { name: 'Your rooms' });
    await joined.getByRole('button', { name: /^kbd/ })
        .waitFor({ state: 'detached' });
    await p.getByRole('heading', { level: 1, name: 'general', exact: true })
        .waitFor();
});
