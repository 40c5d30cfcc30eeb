// chatops.test.js: the chat additions of #16 in a real browser against a
// real parleyd: editing (↑ in the empty composer) and deleting one's own
// messages, shown in place; a reply whose quote jumps to the original;
// unread badges and the "New messages" divider from the server's read
// markers, kept in step across two windows of one user and across a
// reload; and search results that open the message in its room.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as h from '../lib/harness.js';

const env = h.serverPerFile({ before, after }, assert);
const open = () => env.open();

// The joined room's button, by its accessible name ("lounge" or
// "lounge, 2 unread").
function roomButton(page, name) {
    return page.getByRole('list', { name: 'Your rooms', exact: true })
        .getByRole('button', { name, exact: true });
}

// Hover message seq so its actions show, then click one of them.
async function action(page, label, seq) {
    await page.locator('#message-list .msg[data-seq="' + seq + '"]').hover();
    await page.getByRole('button', { name: label + ' message ' + seq,
                                     exact: true }).click();
}

test('edit, delete, reply, unread across windows, search', async () => {
    const alice = await open();
    const bob = await open();
    const a1 = alice.page;
    const b = bob.page;
    await h.enterRoom(a1, env.server.url, 'alice', 'lounge');
    await h.enterRoom(b, env.server.url, 'bob', 'lounge');

    // ↑ in the empty composer edits alice's last message, in place.
    await h.sendMessage(a1, 'hello wrold');
    await h.waitForTexts(b, ['hello wrold']);
    await h.ui(a1).message.press('ArrowUp');
    assert.equal(await h.ui(a1).message.inputValue(), 'hello wrold');
    await a1.getByText('Editing your message', { exact: true }).waitFor();
    await h.ui(a1).message.fill('hello world');
    await h.ui(a1).message.press('Enter');
    let log = await h.waitForTexts(b, ['hello world']);
    assert.equal(log.length, 1, 'the edit replaces the message: ' +
                 JSON.stringify(log));
    await b.locator('#message-list .msg[data-seq="1"] .edited')
        .getByText('edited', { exact: true }).waitFor();

    // bob answers it: the quote jumps to the original.
    await action(b, 'Reply', 1);
    await b.getByText('Replying to alice: hello world', { exact: true })
        .waitFor();
    await h.sendMessage(b, 'why so formal?');
    await h.waitForTexts(a1, ['hello world', 'why so formal?']);
    await a1.getByRole('button', { name: 'Show the message replied to, ' +
                                         'from alice', exact: true }).click();
    await h.waitFor(() => a1.evaluate(() =>
        document.activeElement?.dataset?.seq === '1'), 5000,
        'the original focused');

    // bob may not touch alice's message: no Edit or Delete for it.
    await b.locator('#message-list .msg[data-seq="1"]').hover();
    assert.equal(await b.getByRole('button', { name: 'Delete message 1' })
        .count(), 0);

    // Two windows of alice, both in another room; bob writes in lounge.
    await a1.getByRole('textbox', { name: 'Room', exact: true }).fill('side');
    await a1.getByRole('button', { name: 'Join', exact: true }).click();
    await a1.getByRole('heading', { level: 1, name: 'side' }).waitFor();
    const a2 = await alice.context.newPage();
    a2.on('pageerror', (e) => alice.problems.push('pageerror: ' + e.message));
    await a2.goto(env.server.url + '/#/chat/side');
    await h.waitOnline(a2);
    await a2.getByRole('heading', { level: 1, name: 'side' }).waitFor();
    await h.sendMessage(b, 'ping 1');
    await h.sendMessage(b, 'ping 2');
    await roomButton(a1, 'lounge, 2 unread').waitFor();
    await roomButton(a2, 'lounge, 2 unread').waitFor();

    // Window 1 reads lounge: a divider before what was new, and window 2's
    // badge goes away (the server's marker, pushed as "marked").
    await roomButton(a1, 'lounge, 2 unread').click();
    await a1.getByRole('log', { name: 'Messages' })
        .getByRole('separator', { name: 'New messages' }).waitFor();
    const order = await a1.evaluate(() => Array.from(
        document.querySelectorAll('#message-list .new-divider, ' +
                                  '#message-list .msg'))
        .map((n) => n.classList.contains('new-divider') ? '|' :
             n.querySelector('.msg-text').textContent));
    assert.deepEqual(order, ['hello world', 'why so formal?', '|', 'ping 1',
                             'ping 2']);
    await roomButton(a2, 'lounge').waitFor();

    // The marker outlives a reload; a new message counts again, also
    // after a reload (the count comes from the server).
    await a2.reload();
    await h.waitOnline(a2);
    await roomButton(a2, 'lounge').waitFor();
    await a1.getByRole('textbox', { name: 'Room', exact: true }).fill('side');
    await a1.getByRole('button', { name: 'Join', exact: true }).click();
    await h.sendMessage(b, 'ping 3');
    await roomButton(a2, 'lounge, 1 unread').waitFor();
    await a2.reload();
    await h.waitOnline(a2);
    await roomButton(a2, 'lounge, 1 unread').waitFor();

    // alice deletes her message: "message deleted" in its place.
    await roomButton(a1, 'lounge, 1 unread').click();
    await action(a1, 'Delete', 1);
    await h.waitForTexts(b, ['message deleted', 'why so formal?', 'ping 1',
                             'ping 2', 'ping 3']);

    // Search finds bob's reply, not the deleted message; the result opens
    // the room at the message.
    const search = a2.getByRole('searchbox', { name: 'Search', exact: true });
    await search.fill('hello');
    await search.press('Enter');
    await a2.getByRole('list', { name: 'Search results' })
        .getByText('No messages found.', { exact: true }).waitFor();
    await search.fill('formal');
    await search.press('Enter');
    await a2.getByRole('button', { name: 'Go to bob in lounge: why so ' +
                                         'formal?', exact: true }).click();
    await a2.getByRole('heading', { level: 1, name: 'lounge' }).waitFor();
    await h.waitFor(() => a2.evaluate(() =>
        document.activeElement?.dataset?.seq === '3'), 5000,
        'the found message focused');
    await a2.close();
});
