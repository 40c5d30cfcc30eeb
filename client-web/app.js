// app.js: the entry point. It creates the one connection, the chat and
// sensors views, the hash router (#/chat, #/chat/<room>, #/sensors), the
// display name field (remembered in localStorage) and the connection
// state shown in the top bar.

import { Connection, validName } from './conn.js';
import { ChatView } from './chat.js';
import { SensorsView } from './sensors.js';
import { storageGet, storageSet } from './util.js';

const wsUrl = (location.protocol === 'https:' ? 'wss://' : 'ws://') +
              location.host + '/ws';

const nameInput = document.getElementById('name-input');
const nameError = document.getElementById('name-error');
const connState = document.getElementById('conn-state');
const connText = document.getElementById('conn-text');
const reconnectBtn = document.getElementById('reconnect');

let savedName = storageGet('parley.name', '');
if (typeof savedName !== 'string' || !validName(savedName))
    savedName = '';
nameInput.value = savedName;

// A server with auth needs a token: open the page as /?token=<jwt> once;
// it is kept for this tab only.
const params = new URLSearchParams(location.search);
if (params.has('token')) {
    try {
        sessionStorage.setItem('parley.token', params.get('token'));
    } catch (e) {
        /* not kept: this page load only */
    }
}
let token = params.get('token');
try {
    token = token || sessionStorage.getItem('parley.token');
} catch (e) {
    /* no session storage */
}

const conn = new Connection(wsUrl, savedName, token);
const chat = new ChatView(conn, document.getElementById('view-chat'));
const sensors = new SensorsView(conn);

// -- display name ---------------------------------------------------------

// Use the name typed in the Name field. Returns false (and says why) when
// it is not a valid name; an empty field lets the server pick one.
function applyName() {
    const name = nameInput.value.trim();
    if (name !== '' && !validName(name)) {
        nameError.textContent = 'A name is 1 to 64 bytes, no control ' +
                                'characters.';
        nameInput.setAttribute('aria-invalid', 'true');
        return false;
    }
    nameError.textContent = '';
    nameInput.removeAttribute('aria-invalid');
    storageSet('parley.name', name);
    conn.setName(name);
    return true;
}

nameInput.addEventListener('change', applyName);
nameInput.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter') {
        ev.preventDefault();
        applyName();
        document.getElementById('room-input').focus();
    }
});
// A name typed but not yet confirmed (no blur) still counts when the user
// joins a room or sends.
for (const id of ['join-form', 'composer']) {
    document.getElementById(id).addEventListener('submit', () => {
        if (nameInput.value.trim() !== conn.name)
            applyName();
    }, { capture: true });
}

// -- connection state -----------------------------------------------------

let countdown = null;

function renderConn() {
    const state = conn.state;
    connState.dataset.state = state;
    clearInterval(countdown);
    countdown = null;
    reconnectBtn.hidden = state !== 'offline';
    if (state === 'online') {
        connText.textContent = 'Online';
        connState.title = 'Connected as ' + (conn.user || '');
    } else if (state === 'connecting') {
        connText.textContent = 'Connecting…';
        connState.title = '';
    } else {
        const tick = () => {
            const s = Math.max(0, Math.ceil((conn.retryAt - Date.now()) / 1000));
            const why = conn.lastError ? ' (' + conn.lastError + ')' : '';
            connText.textContent = conn.retryAt && s > 0
                ? 'Offline' + why + ' · retry in ' + s + ' s'
                : 'Offline' + why;
        };
        tick();
        countdown = setInterval(tick, 1000);
        connState.title = 'Not connected; reconnecting by itself';
    }
}

conn.addEventListener('state', renderConn);
conn.addEventListener('retry', renderConn);
reconnectBtn.addEventListener('click', () => conn.retryNow());
window.addEventListener('online', () => conn.retryNow());
document.addEventListener('visibilitychange', () => {
    if (!document.hidden)
        conn.retryNow();
});

// The skip link focuses the Message field without touching the route.
document.querySelector('.skip-link').addEventListener('click', (ev) => {
    ev.preventDefault();
    const input = document.getElementById('message-input');
    if (document.getElementById('view-chat').hidden)
        location.hash = '#/chat';
    if (input.disabled)
        document.getElementById('room-input').focus();
    else
        input.focus();
});

// -- title ----------------------------------------------------------------

chat.onTitle = (unread, room) => {
    document.title = (unread > 0 ? '(' + unread + ') ' : '') +
                     (room ? '#' + room + ' · ' : '') + 'Parley';
};
chat.renderRoomLists();

// -- routing --------------------------------------------------------------

function route() {
    const hash = location.hash.replace(/^#\/?/, '');
    const parts = hash.split('/');
    const view = parts[0] === 'sensors' ? 'sensors' : 'chat';
    document.getElementById('view-chat').hidden = view !== 'chat';
    document.getElementById('view-sensors').hidden = view !== 'sensors';
    document.body.dataset.view = view;
    for (const a of document.querySelectorAll('nav.views a')) {
        if (a.dataset.view === view)
            a.setAttribute('aria-current', 'page');
        else
            a.removeAttribute('aria-current');
    }
    if (view === 'sensors') {
        sensors.show();
        return;
    }
    let room = null;
    if (parts.length > 1 && parts[0] === 'chat') {
        try {
            room = decodeURIComponent(parts.slice(1).join('/'));
        } catch (e) {
            room = null;
        }
    }
    chat.route(room);
}

window.addEventListener('hashchange', route);
window.addEventListener('popstate', route);
route();
renderConn();
conn.start();
