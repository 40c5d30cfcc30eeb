// sensors.test.js: the IoT dashboard (#/sensors) against a real parleyd:
// a retained reading is on its tile at load, live readings from
// POST /api/publish update it, objects show as "key: value" lines (never
// raw JSON), the sparkline draws, and a tile turns stale after 30 s of
// silence (with Playwright's fake clock) and fresh again on new data.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as h from '../lib/harness.js';

const extraArgs = process.env.PARLEY_WEB_ROOT
    ? ['--web-root', process.env.PARLEY_WEB_ROOT] : [];

let dir;
let server;
let browser;
const pages = [];

function tile(page, topic) {
    return page.getByRole('article', { name: topic, exact: true });
}

// Pixels drawn on a tile's sparkline canvas (alpha > 0).
function inkOf(page, topic) {
    return page.evaluate((t) => {
        const c = document.querySelector(
            'article[data-topic="' + t + '"] canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height);
        let n = 0;
        for (let i = 3; i < d.data.length; i += 4)
            n += d.data[i] > 0 ? 1 : 0;
        return n;
    }, topic);
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
    assert.deepEqual(pages.flatMap((p) => p.problems), []);
});

test('retained and live readings reach their tiles', async () => {
    // Retained before the page exists: on the tile at load.
    await h.publish(server, { topic: 'sensors/t1', data: 21.5,
                              retain: true });
    await h.publish(server, { topic: 'sensors/env',
                              data: { value: 48, unit: '%', battery: 87,
                                      loc: { room: 'lab', floor: 2 } },
                              retain: true });
    const p = await h.newPage(browser);
    pages.push(p);
    await p.page.goto(server.url + '/#/sensors');
    await h.waitOnline(p.page);
    const t1 = tile(p.page, 'sensors/t1');
    await t1.locator('.tile-value').getByText('21.5', { exact: true })
        .waitFor({ timeout: 5000 });
    await t1.locator('time').waitFor();
    assert.match(await t1.locator('time').innerText(), /\d\d:\d\d:\d\d/);
    assert.equal(await p.page.getByRole('link', { name: 'Sensors' })
        .getAttribute('aria-current'), 'page');

    // Objects: the value big with its unit, other fields as key: value.
    const env = tile(p.page, 'sensors/env');
    await env.waitFor();
    assert.equal(await env.locator('.tile-value').innerText(), '48%');
    const fields = await env.locator('.tile-fields .field').allInnerTexts();
    assert.deepEqual(fields.map((f) => f.replace(/\s+/g, ' ')),
                     ['battery: 87', 'loc.room: lab', 'loc.floor: 2']);
    const text = await env.innerText();
    assert.doesNotMatch(text, /[{}"]/, 'no raw JSON on a tile');

    // Live readings: the value follows, the sparkline draws.
    for (const v of [22, 22.75, 21.9, 23.1]) {
        await h.publish(server, { topic: 'sensors/t1', data: v });
    }
    await t1.locator('.tile-value').getByText('23.1', { exact: true })
        .waitFor({ timeout: 5000 });
    assert.ok(await inkOf(p.page, 'sensors/t1') > 50, 'sparkline drawn');
    assert.match(await t1.locator('canvas').getAttribute('aria-label'),
                 /5 recent values, from 21\.5 to 23\.1/);

    // A new topic gets a new tile, in topic order; a string stays text.
    await h.publish(server, { topic: 'sensors/door', data: 'open' });
    await tile(p.page, 'sensors/door').getByText('open', { exact: true })
        .waitFor({ timeout: 5000 });
    const order = await p.page.locator('article.tile')
        .evaluateAll((ns) => ns.map((n) => n.dataset.topic));
    assert.deepEqual(order, ['sensors/door', 'sensors/env', 'sensors/t1']);
    // Markup in values stays text.
    await h.publish(server, { topic: 'sensors/door',
                              data: { note: '<img src=x onerror=alert(1)>' } });
    await tile(p.page, 'sensors/door')
        .getByText('<img src=x onerror=alert(1)>').waitFor();
    assert.equal(await p.page.locator('#tiles img').count(), 0);
    // Chat topics never show up here.
    await h.publish(server, { topic: 'chat/x', data: { text: 'hi' } });
    await h.publish(server, { topic: 'sensors/t1', data: 20 });
    await t1.locator('.tile-value').getByText('20', { exact: true })
        .waitFor({ timeout: 5000 });
    assert.equal(await p.page.locator('article.tile').count(), 3);

    await h.publish(server, { topic: 'sensors/power',
                              data: { value: 1.42, unit: 'kW',
                                      phase: 'L1', ok: true } });
    for (const v of [40, 41, 43, 42, 45, 47, 46, 48])
        await h.publish(server, { topic: 'sensors/humidity', data: v });
    await tile(p.page, 'sensors/humidity').getByText('48', { exact: true })
        .waitFor({ timeout: 5000 });
    await p.page.screenshot({ path: h.screenshotPath('sensors-desktop.png') });
    await p.context.close();
});

test('a tile turns stale after 30 s without data', async () => {
    const p = await h.newPage(browser);
    pages.push(p);
    await p.page.clock.install();
    await p.page.goto(server.url + '/#/sensors');
    await h.waitOnline(p.page);
    await h.publish(server, { topic: 'sensors/t2', data: 5 });
    const t2 = tile(p.page, 'sensors/t2');
    await t2.locator('.tile-value').getByText('5', { exact: true })
        .waitFor({ timeout: 5000 });
    assert.equal(await t2.getByText('stale').isVisible(), false);

    await p.page.clock.fastForward('00:35');
    await t2.getByText('stale', { exact: true }).waitFor({ timeout: 5000 });
    assert.match(await t2.getAttribute('class'), /\bstale\b/);

    await h.publish(server, { topic: 'sensors/t2', data: 6 });
    await t2.locator('.tile-value').getByText('6', { exact: true })
        .waitFor({ timeout: 5000 });
    await t2.getByText('stale', { exact: true })
        .waitFor({ state: 'hidden', timeout: 5000 });
    await p.context.close();
});

test('phone layout of the dashboard', async () => {
    const p = await h.newPage(browser, { viewport: { width: 390, height: 844 },
                                         isMobile: true,
                                         deviceScaleFactor: 2 });
    pages.push(p);
    await p.page.goto(server.url + '/#/sensors');
    // Every known sensor topic has a tile at load, retained or not, with
    // its newest stored reading (t1's retained 21.5 is older than 20).
    await tile(p.page, 'sensors/t1').locator('.tile-value')
        .getByText('20', { exact: true }).waitFor({ timeout: 5000 });
    await tile(p.page, 'sensors/humidity').locator('.tile-value')
        .getByText('48', { exact: true }).waitFor({ timeout: 5000 });
    const order = await p.page.locator('article.tile')
        .evaluateAll((ns) => ns.map((n) => n.dataset.topic));
    assert.deepEqual(order, ['sensors/door', 'sensors/env',
                             'sensors/humidity', 'sensors/power',
                             'sensors/t1', 'sensors/t2']);
    const overflow = await p.page.evaluate(
        () => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, 'no horizontal page scroll');
    await p.page.screenshot({ path: h.screenshotPath('sensors-phone.png') });
    await p.context.close();
});
