// sensors.js: the IoT dashboard. Once shown it subscribes to sensors/#
// (again after every reconnection) and keeps one tile per topic: the
// latest value (a number big, an object as "key: value" lines), when it
// came, a canvas sparkline of recent numeric values, and a "stale" mark
// when nothing came for 30 s. Retained values arrive first on subscribe,
// so a tile shows at once. Values reach the page only as textContent.

import { el, fmtTimeSec, fmtFull, fmtAgo } from './util.js';

const PATTERN = 'sensors/#';
const STALE_MS = 30000;
const POINTS = 60;

const numFmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 3 });

function isPlainObject(v) {
    return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function fmtNumber(v) {
    return Number.isFinite(v) ? numFmt.format(v) : String(v);
}

function fmtScalar(v) {
    if (v === null)
        return '—';
    if (typeof v === 'number')
        return fmtNumber(v);
    if (typeof v === 'boolean')
        return v ? 'true' : 'false';
    if (typeof v === 'string')
        return v;
    if (Array.isArray(v)) {
        if (v.every((x) => x === null || typeof x !== 'object'))
            return v.map(fmtScalar).join(', ');
        return v.length + ' items';
    }
    return '…';
}

// Flatten an object to [key, text] lines: nested objects use dotted keys.
function fieldLines(obj, prefix = '', depth = 0, out = []) {
    for (const [k, v] of Object.entries(obj)) {
        const key = prefix ? prefix + '.' + k : k;
        if (isPlainObject(v) && depth < 3)
            fieldLines(v, key, depth + 1, out);
        else
            out.push([key, fmtScalar(v)]);
        if (out.length >= 12)
            break;
    }
    return out;
}

// The number a reading contributes to the sparkline, and its name.
function numericOf(data) {
    if (typeof data === 'number' && Number.isFinite(data))
        return { v: data, key: null };
    if (isPlainObject(data)) {
        if (typeof data.value === 'number' && Number.isFinite(data.value))
            return { v: data.value, key: 'value' };
        for (const [k, v] of Object.entries(data)) {
            if (typeof v === 'number' && Number.isFinite(v))
                return { v, key: k };
        }
    }
    return null;
}

class Tile {
    constructor(topic) {
        this.topic = topic;
        this.lastSeq = 0;
        this.lastTs = 0;
        this.heardAt = 0;   // local clock: when the latest reading came
        this.data = undefined;
        this.points = [];   // {seq, ts, v}, ascending by ts
        this.numKey = null;
        this.historyAsked = false;

        const short = topic.startsWith('sensors/') ? topic.slice(8) : topic;
        this.nameEl = el('h2', { class: 'tile-name' }, short);
        this.staleEl = el('span', { class: 'stale-badge', hidden: true },
                          'stale');
        this.valueEl = el('div', { class: 'tile-value is-null' }, '—');
        this.fieldsEl = el('dl', { class: 'tile-fields' });
        this.canvas = el('canvas', { class: 'spark', role: 'img',
                                     'aria-label': 'No numeric values yet' });
        this.timeEl = el('time', { class: 'tile-time' });
        this.agoEl = el('span', { class: 'tile-ago' }, 'waiting for data');
        this.node = el('article', {
            class: 'tile', 'aria-label': topic, 'data-topic': topic,
        },
            el('header', { class: 'tile-head' }, this.nameEl, this.staleEl),
            el('div', { class: 'tile-topic' }, topic),
            this.valueEl, this.fieldsEl, this.canvas,
            el('footer', { class: 'tile-foot' }, this.timeEl,
               el('span', { 'aria-hidden': 'true' }, ' · '), this.agoEl));
    }

    // Take a reading; false if it is one the tile already has. heardAt is
    // the local time it came (for a retained copy: when it was published,
    // but never in the future), so staleness does not depend on the
    // server's clock agreeing with ours.
    accept(seq, ts, data, live, heardAt) {
        if (live) {
            // A retained copy re-sent after a reconnect has the same seq
            // and ts; a restarted server may reset the seq of an
            // ephemeral topic, but then the ts is newer.
            if (seq <= this.lastSeq && ts <= this.lastTs)
                return false;
            this.lastSeq = seq;
            this.lastTs = ts;
            this.heardAt = heardAt;
            this.data = data;
        }
        const num = numericOf(data);
        if (num) {
            this.numKey = num.key;
            if (!this.points.some((p) => p.seq === seq && p.ts === ts)) {
                this.points.push({ seq, ts, v: num.v });
                this.points.sort((a, b) => a.ts - b.ts || a.seq - b.seq);
                if (this.points.length > POINTS)
                    this.points.splice(0, this.points.length - POINTS);
            }
        }
        return true;
    }

    render() {
        const data = this.data;
        this.valueEl.replaceChildren();
        this.fieldsEl.replaceChildren();
        this.valueEl.className = 'tile-value';
        if (typeof data === 'number') {
            this.valueEl.append(fmtNumber(data));
        } else if (isPlainObject(data)) {
            let rest = data;
            if (typeof data.value === 'number' ||
                typeof data.value === 'string' ||
                typeof data.value === 'boolean') {
                this.valueEl.append(fmtScalar(data.value));
                if (typeof data.unit === 'string')
                    this.valueEl.append(el('span', { class: 'unit' },
                                           data.unit));
                rest = Object.assign({}, data);
                delete rest.value;
                delete rest.unit;
            } else {
                this.valueEl.classList.add('is-empty');
            }
            for (const [k, v] of fieldLines(rest)) {
                this.fieldsEl.append(el('div', { class: 'field' },
                    el('dt', null, k + ':'), el('dd', null, v)));
            }
        } else if (data === null) {
            this.valueEl.append('—');
            this.valueEl.classList.add('is-null');
        } else if (data !== undefined) {
            const text = fmtScalar(data);
            this.valueEl.append(text);
            if (text.length > 12)
                this.valueEl.classList.add('is-long');
        }
        this.fieldsEl.hidden = this.fieldsEl.childElementCount === 0;
        if (this.lastTs) {
            this.timeEl.textContent = fmtTimeSec(this.lastTs);
            this.timeEl.setAttribute('datetime',
                                     new Date(this.lastTs).toISOString());
            this.timeEl.title = fmtFull(this.lastTs);
        }
        this.tick(Date.now());
        this.draw();
    }

    tick(now) {
        if (!this.heardAt)
            return;
        const age = now - Math.min(this.heardAt, now);
        this.agoEl.textContent = fmtAgo(age);
        const stale = age > STALE_MS;
        this.staleEl.hidden = !stale;
        this.node.classList.toggle('stale', stale);
    }

    draw() {
        const c = this.canvas;
        const dpr = window.devicePixelRatio || 1;
        const w = Math.max(1, Math.round(c.clientWidth * dpr));
        const h = Math.max(1, Math.round(c.clientHeight * dpr));
        if (c.width !== w || c.height !== h) {
            c.width = w;
            c.height = h;
        }
        const ctx = c.getContext('2d');
        ctx.clearRect(0, 0, w, h);
        const pts = this.points;
        if (pts.length === 0) {
            c.setAttribute('aria-label', 'No numeric values yet');
            return;
        }
        let min = Infinity;
        let max = -Infinity;
        for (const p of pts) {
            min = Math.min(min, p.v);
            max = Math.max(max, p.v);
        }
        const label = (this.numKey ? this.numKey + ': ' : '') +
            pts.length + ' recent values, from ' + fmtNumber(min) + ' to ' +
            fmtNumber(max);
        c.setAttribute('aria-label', label);
        const style = getComputedStyle(this.node);
        const line = style.getPropertyValue('--spark').trim() || '#4f46e5';
        const fill = style.getPropertyValue('--spark-fill').trim() ||
                     'rgba(79,70,229,0.12)';
        const pad = 4 * dpr;
        const span = max - min || 1;
        const x = (i) => pts.length === 1 ? w - pad
            : pad + (i * (w - 2 * pad)) / (pts.length - 1);
        const y = (v) => max === min ? h / 2
            : h - pad - ((v - min) * (h - 2 * pad)) / span;
        ctx.lineWidth = 2 * dpr;
        ctx.lineJoin = 'round';
        ctx.lineCap = 'round';
        if (pts.length === 1) {
            // One reading: a faint level line leading to its dot.
            ctx.save();
            ctx.setLineDash([4 * dpr, 4 * dpr]);
            ctx.globalAlpha = 0.35;
            ctx.beginPath();
            ctx.moveTo(pad, h / 2);
            ctx.lineTo(w - pad, h / 2);
            ctx.strokeStyle = line;
            ctx.stroke();
            ctx.restore();
        }
        ctx.beginPath();
        pts.forEach((p, i) => {
            if (i === 0)
                ctx.moveTo(x(i), y(p.v));
            else
                ctx.lineTo(x(i), y(p.v));
        });
        ctx.strokeStyle = line;
        ctx.stroke();
        if (pts.length > 1) {
            ctx.lineTo(x(pts.length - 1), h);
            ctx.lineTo(x(0), h);
            ctx.closePath();
            ctx.fillStyle = fill;
            ctx.fill();
        }
        const last = pts[pts.length - 1];
        ctx.beginPath();
        ctx.arc(x(pts.length - 1), y(last.v), 3 * dpr, 0, Math.PI * 2);
        ctx.fillStyle = line;
        ctx.fill();
    }
}

export class SensorsView {
    constructor(conn) {
        this.conn = conn;
        this.tiles = new Map();
        this.active = false;
        this.grid = document.getElementById('tiles');
        this.empty = document.getElementById('sensors-empty');
        this.hint = document.getElementById('sensors-hint');
        this.hint.textContent = 'curl -X POST ' + location.origin +
            '/api/publish -d \'{"topic":"sensors/t1","data":21.5,' +
            '"retain":true}\'';
        conn.addEventListener('ready', () => {
            if (this.active)
                this.subscribe();
        });
        conn.addEventListener('frame', (ev) => this.onFrame(ev.detail));
        setInterval(() => {
            const now = Date.now();
            for (const t of this.tiles.values())
                t.tick(now);
        }, 1000);
        if (window.ResizeObserver) {
            this.resize = new ResizeObserver(() => {
                for (const t of this.tiles.values())
                    t.draw();
            });
            this.resize.observe(this.grid);
        }
    }

    // Called when the dashboard is shown: subscribe once, then keep it.
    show() {
        if (this.active)
            return;
        this.active = true;
        if (this.conn.online)
            this.subscribe();
    }

    // Subscribe (retained values come first), then find the sensor topics
    // that have no retained value through the "topics" command, so every
    // known sensor has a tile with its latest stored reading at once.
    async subscribe() {
        const conn = this.conn;
        try {
            await conn.request({ op: 'sub', topic: PATTERN });
            const reply = await conn.request({ op: 'topics',
                                               prefix: 'sensors/' });
            for (const t of reply.topics || []) {
                if (typeof t.topic === 'string' && t.seq > 0 &&
                    !this.tiles.has(t.topic))
                    this.fillHistory(this.tileFor(t.topic));
            }
        } catch (e) {
            /* offline (retried on "ready"), or no topics command */
        }
    }

    tileFor(topic) {
        let tile = this.tiles.get(topic);
        if (!tile) {
            tile = new Tile(topic);
            this.tiles.set(topic, tile);
            this.insertTile(tile);
        }
        return tile;
    }

    onFrame(f) {
        if (f.op !== 'msg' || typeof f.topic !== 'string' ||
            !f.topic.startsWith('sensors/') || !Number.isSafeInteger(f.seq))
            return;
        const now = Date.now();
        const ts = typeof f.ts === 'number' ? f.ts : now;
        const heardAt = f.retained === true ? Math.min(ts, now) : now;
        const tile = this.tileFor(f.topic);
        if (!tile.accept(f.seq, ts, f.data, true, heardAt))
            return;
        tile.render();
        if (!tile.historyAsked)
            this.fillHistory(tile);
    }

    insertTile(tile) {
        const after = Array.from(this.tiles.keys()).sort()
            .find((t) => t > tile.topic);
        const next = after ? this.tiles.get(after).node : null;
        this.grid.insertBefore(tile.node, next);
        this.empty.hidden = true;
    }

    // Fill the sparkline with the recent stored readings of a topic. The
    // newest of them becomes the tile's value when it is newer than what
    // the tile has (a retained value can be older than later readings).
    async fillHistory(tile) {
        tile.historyAsked = true;
        try {
            const reply = await this.conn.request({
                op: 'history', topic: tile.topic, limit: POINTS,
            });
            const msgs = (reply.messages || []).filter((m) =>
                Number.isSafeInteger(m.seq) && typeof m.ts === 'number');
            const now = Date.now();
            msgs.forEach((m, i) => {
                const newest = i === msgs.length - 1;
                tile.accept(m.seq, m.ts, m.data, newest, Math.min(m.ts, now));
            });
        } catch (e) {
            /* no history (ephemeral topic or offline): live values only */
        }
        if (tile.lastTs)
            tile.render();
    }
}
