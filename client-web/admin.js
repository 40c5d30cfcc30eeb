// admin.js: the /admin page. It is an ordinary Parley client: it says
// hello (with a token when the server requires one), subscribes to
// $SYS/# and draws what the server publishes there: a table of the
// current values, charts of the last few minutes, the busiest topics,
// and the slow-consumer and refused-connection events. Nothing is
// fetched from anywhere but this server.

import { Connection } from './conn.js';

const TOKEN_KEY = 'parley.admin.token';
const POINTS = 90;          // samples kept per chart
const EVENTS_MAX = 50;      // events kept per list

// Rows of the "Now" table: label, $SYS topic, how to show the value.
const ROWS = [
    ['Connections', 'clients/connected', 'int'],
    ['Connections since start', 'clients/total', 'int'],
    ['Subscriptions', 'subscriptions/count', 'int'],
    ['Topics', 'topics/count', 'int'],
    ['Messages received/s', 'load/messages/received/per_second', 'num'],
    ['Messages sent/s', 'load/messages/sent/per_second', 'num'],
    ['Messages received', 'messages/received', 'int'],
    ['Messages sent', 'messages/sent', 'int'],
    ['Bytes received/s', 'load/bytes/received/per_second', 'bytes'],
    ['Bytes sent/s', 'load/bytes/sent/per_second', 'bytes'],
    ['Store queue', 'store/queue_depth', 'int'],
    ['Commit latency (ms)', 'store/commit_latency_ms', 'num'],
    ['Slow consumers', 'clients/slow_consumers', 'int'],
    ['Rate-limited commands', 'clients/rate_limited', 'int'],
    ['Refused connections', 'clients/refused', 'int'],
    ['Uptime', 'uptime', 'duration'],
    ['Cluster nodes', 'cluster/nodes', 'int'],  // '–' on a single node
];

const $ = (id) => document.getElementById(id);
const values = new Map();   // "$SYS/broker/..." -> latest data
const cells = new Map();    // same key -> its <td>
const history = { conns: [], rin: [], rout: [], queue: [], commit: [] };
let conn = null;

function show(kind, v) {
    if (typeof v !== 'number')
        return '–';
    switch (kind) {
    case 'int':
        return String(Math.round(v));
    case 'bytes':
        if (v >= 1048576)
            return (v / 1048576).toFixed(1) + ' MiB';
        if (v >= 1024)
            return (v / 1024).toFixed(1) + ' KiB';
        return v.toFixed(0) + ' B';
    case 'duration': {
        const s = Math.floor(v);
        const d = Math.floor(s / 86400);
        const h = Math.floor((s % 86400) / 3600);
        const m = Math.floor((s % 3600) / 60);
        return (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') +
               (d || h || m ? m + 'm ' : '') + (s % 60) + 's';
    }
    default:
        return v.toFixed(2);
    }
}

function buildTable() {
    const body = $('adm-values').tBodies[0];
    for (const [label, key, kind] of ROWS) {
        const tr = document.createElement('tr');
        const th = document.createElement('th');
        const td = document.createElement('td');
        th.scope = 'row';
        th.textContent = label;
        td.textContent = '–';
        td.dataset.kind = kind;
        tr.append(th, td);
        body.append(tr);
        cells.set('$SYS/broker/' + key, td);
    }
}

function setState(state, text) {
    const el = $('adm-state');
    el.dataset.state = state;
    el.textContent = text;
}

// One chart: each series a polyline scaled to the largest value shown.
const SVG = 'http://www.w3.org/2000/svg';

function drawChart(svg, series) {
    const max = Math.max(1, ...series.flatMap((s) => s.points));
    svg.replaceChildren();
    for (const s of series) {
        if (s.points.length === 0)
            continue;
        const step = 300 / (POINTS - 1);
        const x0 = 300 - step * (s.points.length - 1);
        const pts = s.points.map((v, i) =>
            (x0 + i * step).toFixed(1) + ',' +
            (98 - (v / max) * 90).toFixed(1)).join(' ');
        const line = document.createElementNS(SVG, 'polyline');
        line.setAttribute('points', pts);
        line.setAttribute('class', s.cls);
        svg.append(line);
    }
    const label = document.createElementNS(SVG, 'text');
    label.setAttribute('x', '2');
    label.setAttribute('y', '10');
    label.textContent = 'max ' + (Number.isInteger(max) ? max
                                                        : max.toFixed(2));
    svg.append(label);
}

function push(arr, v) {
    arr.push(typeof v === 'number' ? v : 0);
    if (arr.length > POINTS)
        arr.shift();
}

// Each tick's values come in one burst ending with topics/busiest: take
// a sample for the charts then.
function sample() {
    const v = (k) => values.get('$SYS/broker/' + k);
    push(history.conns, v('clients/connected'));
    push(history.rin, v('load/messages/received/per_second'));
    push(history.rout, v('load/messages/sent/per_second'));
    push(history.queue, v('store/queue_depth'));
    push(history.commit, v('store/commit_latency_ms'));
    drawChart($('adm-chart-conns'), [{ cls: 'in', points: history.conns }]);
    drawChart($('adm-chart-rates'), [{ cls: 'in', points: history.rin },
                                     { cls: 'out', points: history.rout }]);
    drawChart($('adm-chart-store'), [{ cls: 'in', points: history.queue },
                                     { cls: 'out', points: history.commit }]);
}

function showBusiest(list) {
    const body = $('adm-busiest');
    body.replaceChildren();
    for (const t of Array.isArray(list) ? list : []) {
        const tr = document.createElement('tr');
        const a = document.createElement('td');
        const b = document.createElement('td');
        a.textContent = String(t.topic);
        b.textContent = show('num', t.per_second);
        tr.append(a, b);
        body.append(tr);
    }
    $('adm-busiest-empty').hidden = body.rows.length > 0;
}

function addEvent(listId, text) {
    const ul = $(listId);
    const li = document.createElement('li');
    const time = document.createElement('time');
    const now = new Date();
    time.dateTime = now.toISOString();
    time.textContent = now.toLocaleTimeString();
    li.append(time, document.createTextNode(text));
    ul.prepend(li);
    while (ul.children.length > EVENTS_MAX)
        ul.lastElementChild.remove();
    $(listId + '-empty').hidden = true;
}

function onSys(topic, data) {
    if (topic === '$SYS/events/slow_consumer') {
        addEvent('adm-slow', (data.user || '?') + ' (connection ' +
                 data.conn + ') on ' + (data.topic || 'replies'));
        return;
    }
    if (topic === '$SYS/events/refused') {
        addEvent('adm-refused', (data.address || 'unknown address') + ': ' +
                 data.reason + (data.code ? ' (' + data.code + ')' : ''));
        return;
    }
    values.set(topic, data);
    if (topic === '$SYS/broker/version') {
        $('adm-version').textContent = String(data);
    } else if (topic === '$SYS/broker/topics/busiest') {
        showBusiest(data);
        sample();
    } else if (cells.has(topic)) {
        const td = cells.get(topic);
        td.textContent = show(td.dataset.kind, data);
    }
}

function stop(c) {
    c.stopped = true;
    clearTimeout(c.retryTimer);
    c.dropSocket('stopped');
}

function askToken(why) {
    $('adm-login').hidden = false;
    $('adm-login-error').textContent = why || '';
    $('adm-token').focus();
    setState('offline', 'Not signed in');
}

function connect(token) {
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') +
                location.host + '/ws';
    const c = new Connection(url, 'admin', token);
    conn = c;
    c.addEventListener('state', (ev) => {
        if (ev.detail === 'connecting')
            setState('connecting', 'Connecting…');
        else if (ev.detail === 'offline' && !c.stopped)
            setState('offline', 'Offline, retrying');
    });
    c.addEventListener('ready', async () => {
        try {
            await c.request({ op: 'sub', topic: '$SYS/#' });
            setState('online', 'Live');
            $('adm-login').hidden = true;
        } catch (e) {
            if (e.code === 'forbidden') {
                stop(c);
                sessionStorage.removeItem(TOKEN_KEY);
                askToken('This token may not read $SYS/#.');
            }
        }
    });
    c.addEventListener('frame', (ev) => {
        const f = ev.detail;
        if (f.op === 'msg' && typeof f.topic === 'string' &&
            f.topic.startsWith('$SYS/')) {
            onSys(f.topic, f.data);
        } else if (f.op === 'error' && f.code === 'unauthorized') {
            stop(c);
            sessionStorage.removeItem(TOKEN_KEY);
            askToken(token ? 'The server refused this token.' : '');
        }
    });
    c.start();
}

function init() {
    const params = new URLSearchParams(location.search);
    let token = params.get('token') || sessionStorage.getItem(TOKEN_KEY);
    buildTable();
    $('adm-login').addEventListener('submit', (ev) => {
        ev.preventDefault();
        token = $('adm-token').value.trim();
        if (!token) {
            $('adm-login-error').textContent = 'Enter a token.';
            return;
        }
        sessionStorage.setItem(TOKEN_KEY, token);
        $('adm-login-error').textContent = '';
        if (conn)
            stop(conn);
        connect(token);
    });
    connect(token || null);
}

init();
