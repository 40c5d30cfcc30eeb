// conn.js: owns the one WebSocket to the server (subprotocol parley.v1):
// connecting, the hello, request/reply matching by id, keep-alive pings,
// and reconnecting with exponential backoff. It knows nothing about rooms
// or sensors: after each successful hello it fires "ready", and the views
// (re)subscribe what they need. Pushed frames (msg, join, leave, and
// errors with id null) are fired as "frame" events.

const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 15000;
const REQUEST_TIMEOUT_MS = 15000;
const PING_EVERY_MS = 20000;
const PING_TIMEOUT_MS = 10000;
const MAX_NAME_BYTES = 64;

export class ProtocolError extends Error {
    constructor(code, message) {
        super(message || code);
        this.code = code;
    }
}

export function nameByteLength(name) {
    return new TextEncoder().encode(name).length;
}

export function validName(name) {
    const n = nameByteLength(name);
    return n >= 1 && n <= MAX_NAME_BYTES && !/[\u0000-\u001f\u007f]/.test(name);
}

export class Connection extends EventTarget {
    // url: the WebSocket URL; name: the display name sent in hello ("" for
    // none, and the server picks one); token: a JWT for servers that
    // require auth (then the server names the user), or null.
    constructor(url, name, token) {
        super();
        this.url = url;
        this.name = name;
        this.token = token || null;
        this.user = null;          // the user the server confirmed in hello
        this.state = 'offline';
        this.ws = null;
        this.nextId = 1;
        this.pending = new Map();  // id -> {resolve, reject, timer}
        this.attempt = 0;
        this.retryAt = 0;
        this.retryTimer = null;
        this.pingTimer = null;
        this.stopped = true;
        this.lastError = null;     // code of the last failed hello
    }

    start() {
        this.stopped = false;
        if (!this.ws)
            this.open();
    }

    // Change the display name. hello is once per connection, so a new name
    // means a new connection; the views resubscribe on "ready".
    setName(name) {
        if (name === this.name)
            return;
        this.name = name;
        if (this.ws) {
            this.dropSocket('name changed');
            this.open();
        }
    }

    // Connect now instead of waiting for the backoff timer.
    retryNow() {
        if (this.stopped || this.ws)
            return;
        clearTimeout(this.retryTimer);
        this.retryTimer = null;
        this.open();
    }

    setState(state) {
        if (this.state === state)
            return;
        this.state = state;
        this.dispatchEvent(new CustomEvent('state', { detail: state }));
    }

    open() {
        let ws;
        this.retryAt = 0;
        this.setState('connecting');
        try {
            ws = new WebSocket(this.url, 'parley.v1');
        } catch (e) {
            this.scheduleRetry();
            return;
        }
        this.ws = ws;
        ws.addEventListener('open', () => this.onOpen(ws));
        ws.addEventListener('message', (ev) => this.onMessage(ws, ev));
        ws.addEventListener('close', () => this.onClose(ws));
        ws.addEventListener('error', () => { /* close follows */ });
    }

    async onOpen(ws) {
        if (ws !== this.ws)
            return;
        const hello = { op: 'hello' };
        if (this.name)
            hello.name = this.name;
        if (this.token)
            hello.token = this.token;
        try {
            const reply = await this.request(hello);
            if (ws !== this.ws)
                return;
            this.user = reply.user;
            this.lastError = null;
            this.attempt = 0;
            this.setState('online');
            this.startPings(ws);
            this.dispatchEvent(new CustomEvent('ready', {
                detail: { user: reply.user, server: reply.server },
            }));
        } catch (e) {
            if (ws !== this.ws)
                return;
            if (e.code !== 'offline' && e.code !== 'timeout')
                this.lastError = e.code || 'internal';
            this.dispatchEvent(new CustomEvent('frame', {
                detail: { op: 'error', id: null, code: e.code || 'internal',
                          message: 'hello failed: ' + e.message },
            }));
            this.dropSocket('hello failed');
            this.scheduleRetry();
        }
    }

    onMessage(ws, ev) {
        let frame;
        if (ws !== this.ws || typeof ev.data !== 'string')
            return;
        try {
            frame = JSON.parse(ev.data);
        } catch (e) {
            return;
        }
        if (!frame || typeof frame !== 'object')
            return;
        if ((frame.op === 'ok' || frame.op === 'error') &&
            typeof frame.id === 'number' && this.pending.has(frame.id)) {
            const p = this.pending.get(frame.id);
            this.pending.delete(frame.id);
            clearTimeout(p.timer);
            if (frame.op === 'ok')
                p.resolve(frame);
            else
                p.reject(new ProtocolError(frame.code, frame.message));
            return;
        }
        this.dispatchEvent(new CustomEvent('frame', { detail: frame }));
    }

    onClose(ws) {
        if (ws !== this.ws)
            return;
        this.dropSocket('connection closed');
        if (!this.stopped)
            this.scheduleRetry();
    }

    // Forget the current socket: fail its pending requests and close it.
    dropSocket(why) {
        const ws = this.ws;
        this.ws = null;
        this.user = null;
        clearInterval(this.pingTimer);
        this.pingTimer = null;
        for (const [, p] of this.pending) {
            clearTimeout(p.timer);
            p.reject(new ProtocolError('offline', why));
        }
        this.pending.clear();
        if (ws) {
            try {
                ws.close(1000);
            } catch (e) {
                /* already closing */
            }
        }
        this.setState('offline');
    }

    scheduleRetry() {
        const base = Math.min(BACKOFF_MAX_MS,
                              BACKOFF_FIRST_MS * 2 ** this.attempt);
        const delay = Math.round(base * (0.75 + Math.random() * 0.25));
        this.attempt = Math.min(this.attempt + 1, 10);
        clearTimeout(this.retryTimer);
        this.retryAt = Date.now() + delay;
        this.setState('offline');
        this.dispatchEvent(new CustomEvent('retry', { detail: this.retryAt }));
        this.retryTimer = setTimeout(() => {
            this.retryTimer = null;
            if (!this.stopped && !this.ws)
                this.open();
        }, delay);
    }

    startPings(ws) {
        clearInterval(this.pingTimer);
        this.pingTimer = setInterval(() => {
            if (ws !== this.ws)
                return;
            this.request({ op: 'ping' }, PING_TIMEOUT_MS).catch((e) => {
                // A connection that cannot answer a ping is dead, even if
                // the socket has not noticed yet.
                if (ws === this.ws && e.code === 'timeout') {
                    this.dropSocket('ping timeout');
                    this.scheduleRetry();
                }
            });
        }, PING_EVERY_MS);
    }

    // Send a command with an id. Resolves with the "ok" frame; rejects with
    // a ProtocolError (the server's code, "offline" or "timeout").
    request(cmd, timeoutMs = REQUEST_TIMEOUT_MS) {
        return new Promise((resolve, reject) => {
            const ws = this.ws;
            if (!ws || ws.readyState !== WebSocket.OPEN) {
                reject(new ProtocolError('offline', 'not connected'));
                return;
            }
            const id = this.nextId++;
            const timer = setTimeout(() => {
                this.pending.delete(id);
                reject(new ProtocolError('timeout', 'no reply'));
            }, timeoutMs);
            this.pending.set(id, { resolve, reject, timer });
            ws.send(JSON.stringify({ ...cmd, id }));
        });
    }

    // Send a command without an id (fire and forget). Returns false when
    // there is no open connection.
    send(cmd) {
        const ws = this.ws;
        if (!ws || ws.readyState !== WebSocket.OPEN || this.state !== 'online')
            return false;
        ws.send(JSON.stringify(cmd));
        return true;
    }

    get online() {
        return this.state === 'online';
    }
}
