// mqtt_sensor.test.js: a sensor that speaks MQTT shows on the browser
// dashboard (#/sensors): Debian's mosquitto_pub publishes to parleyd's
// MQTT listener (--mqtt-port 0, its port read from the ready line), a
// retained reading is on its tile at load, a live one updates it, and an
// object payload shows as its fields. Skipped when mosquitto_pub is
// missing (it comes with install-deps.sh --test).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as h from '../lib/harness.js';

const MOSQUITTO_PUB = '/usr/bin/mosquitto_pub';
const extraArgs = ['--mqtt-port', '0'].concat(process.env.PARLEY_WEB_ROOT
    ? ['--web-root', process.env.PARLEY_WEB_ROOT] : []);
const skip = existsSync(MOSQUITTO_PUB) ? false : 'mosquitto_pub missing';

let dir;
let server;
let browser;
let mqttPort;
const pages = [];

function mosquittoPub(args) {
    return new Promise((resolve, reject) => {
        execFile(MOSQUITTO_PUB,
                 ['-h', '127.0.0.1', '-p', String(mqttPort), '-q', '1',
                  ...args],
                 { timeout: 10000 },
                 (err, stdout, stderr) => err
                     ? reject(new Error('mosquitto_pub: ' + err.message +
                                        ' ' + stderr))
                     : resolve());
    });
}

function tile(page, topic) {
    return page.getByRole('article', { name: topic, exact: true });
}

before(async () => {
    if (skip)
        return;
    dir = h.makeTempDir();
    server = await h.startServer({ dir, args: extraArgs });
    const m = /MQTT on mqtt:\/\/127\.0\.0\.1:(\d+)/.exec(server.log());
    assert.ok(m, 'the ready line names the MQTT port');
    mqttPort = Number(m[1]);
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

test('an MQTT sensor reaches the dashboard', { skip }, async () => {
    // Retained over MQTT before the page exists: on its tile at load.
    await mosquittoPub(['-t', 'sensors/mqtt-t1', '-m', '19.5', '-r']);
    const p = await h.newPage(browser);
    pages.push(p);
    await p.page.goto(server.url + '/#/sensors');
    await h.waitOnline(p.page);
    const t1 = tile(p.page, 'sensors/mqtt-t1');
    await t1.locator('.tile-value').getByText('19.5', { exact: true })
        .waitFor({ timeout: 5000 });

    // Live: the JSON payload maps to data, so the tile follows it.
    await mosquittoPub(['-t', 'sensors/mqtt-t1', '-m', '20.25']);
    await t1.locator('.tile-value').getByText('20.25', { exact: true })
        .waitFor({ timeout: 5000 });

    // An object payload (JSON text with spaces) shows as fields.
    await mosquittoPub(['-t', 'sensors/mqtt-env', '-m',
                        '{"value": 51, "unit": "%", "battery": 90}']);
    const env = tile(p.page, 'sensors/mqtt-env');
    await env.locator('.tile-value').getByText('51%', { exact: true })
        .waitFor({ timeout: 5000 });
    const fields = await env.locator('.tile-fields .field').allInnerTexts();
    assert.deepEqual(fields.map((f) => f.replace(/\s+/g, ' ')),
                     ['battery: 90']);
    await p.page.screenshot({ path: h.screenshotPath('sensors-mqtt.png') });
    await p.context.close();
});
