// admin.test.js: the /admin page against a real parleyd with a short
// --sys-interval: it is itself a client of $SYS/#, so its "Now" table
// counts its own connection and then a second page; publishes over the
// HTTP API show in the message totals and the busiest topics; the charts
// draw. With auth on it asks for a token, refuses one whose allow_sub
// does not cover $SYS/#, and goes live with one that does. Walked by
// accessible names only.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import * as h from '../lib/harness.js';

const extraArgs = process.env.PARLEY_WEB_ROOT
    ? ['--web-root', process.env.PARLEY_WEB_ROOT] : [];
const SECRET = 'e2e-admin-secret';

let dirs = [];
let servers = [];
let browser;
const pages = [];

function b64url(s) {
    return Buffer.from(s).toString('base64url');
}

function mint(claims) {
    const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
    const body = b64url(JSON.stringify(claims));
    const mac = createHmac('sha256', SECRET).update(head + '.' + body)
        .digest('base64url');
    return head + '.' + body + '.' + mac;
}

async function start(args) {
    const dir = h.makeTempDir();
    dirs.push(dir);
    const server = await h.startServer({
        dir, args: ['--sys-interval', '200ms', ...args, ...extraArgs] });
    servers.push(server);
    return server;
}

async function open(url) {
    const p = await h.newPage(browser);
    pages.push(p);
    await p.page.goto(url);
    return p.page;
}

// The value cell of the "Now" table's row labelled label.
function cell(page, label) {
    return page.getByRole('table', { name: 'Now' })
        .getByRole('row', { name: label, exact: false })
        .filter({ has: page.getByRole('rowheader', { name: label,
                                                     exact: true }) })
        .getByRole('cell');
}

async function waitCell(page, label, want) {
    await h.waitFor(async () => (await cell(page, label).textContent())
        === want, 10000, label + ' = ' + want);
}

before(async () => {
    browser = await h.launchBrowser();
});

after(async () => {
    if (browser)
        await browser.close();
    for (const s of servers) {
        const res = await h.stopServer(s, 'SIGTERM');
        assert.deepEqual(res, { code: 0, signal: null },
                         'parleyd exits 0 on SIGTERM');
    }
    for (const d of dirs)
        h.removeTempDir(d);
    assert.deepEqual(pages.flatMap((p) => p.problems), []);
});

test('the admin page shows live $SYS values, charts and busiest topics',
     async () => {
    const server = await start([]);
    const page = await open(server.url + '/admin');
    await page.getByRole('status').getByText('Live').waitFor();
    await waitCell(page, 'Connections', '1');
    assert.match(await page.getByText(/^parley\//).textContent(),
                 /^parley\/\d/);

    const other = await open(server.url + '/admin');
    await other.getByRole('status').getByText('Live').waitFor();
    await waitCell(page, 'Connections', '2');
    await waitCell(page, 'Connections since start', '2');

    for (let i = 0; i < 5; i++)
        await h.publish(server, { topic: 'admin/busy', data: i });
    await waitCell(page, 'Messages received', '5');
    // A topic is among the busiest for the interval it was busy in:
    // keep it busy until the page shows it.
    const busiest = page.getByRole('table', { name: 'Busiest topics' });
    await h.waitFor(async () => {
        await h.publish(server, { topic: 'admin/busy', data: 0 });
        return (await busiest.getByRole('cell', { name: 'admin/busy',
                                                  exact: true }).count()) === 1;
    }, 10000, 'admin/busy among the busiest topics');

    // The charts drew a line over a few ticks.
    const chart = page.getByRole('img', { name: 'Connections chart' });
    await h.waitFor(async () => {
        const pts = await chart.locator('polyline').getAttribute('points');
        return pts !== null && pts.split(' ').length >= 3;
    }, 10000, 'a line on the connections chart');
    await page.getByRole('img', { name: 'Message rates chart' }).waitFor();
    await page.getByRole('img', { name: 'Store queue chart' }).waitFor();
    await page.screenshot({ path: h.screenshotPath('admin.png') });

    // One page closes: the count follows.
    await other.close();
    await waitCell(page, 'Connections', '1');
});

test('with auth on, the admin page asks for a token that covers $SYS/#',
     async () => {
    const server = await start(['--secret', SECRET]);
    const page = await open(server.url + '/admin');
    const field = page.getByLabel('Admin token');
    await field.waitFor();
    assert.equal(await page.getByRole('status').textContent(),
                 'Not signed in');

    await field.fill(mint({ sub: 'carol', allow_sub: ['chat/#'] }));
    await page.getByRole('button', { name: 'Connect' }).click();
    await page.getByRole('alert').getByText('may not read $SYS/#')
        .waitFor();

    await field.fill(mint({ sub: 'root', allow_sub: ['$SYS/#'] }));
    await page.getByRole('button', { name: 'Connect' }).click();
    await page.getByRole('status').getByText('Live').waitFor();
    await waitCell(page, 'Connections', '1');
    assert.equal(await field.isVisible(), false);
});
