// chat.js: the chat view. It owns the joined rooms (topic chat/<room>),
// their messages deduplicated by seq, presence, typing indicators over the
// ephemeral topic typing/<room>, unread counts, the outbox of messages not
// yet acknowledged, and the room list from the "topics" command. After
// every (re)connection it subscribes each joined room again with
// since = the last seq it saw, so a restart of the server loses nothing and
// shows nothing twice. Message text reaches the page only as textContent.
// Chat additions (#16): edits and deletions shown in place of the message
// they concern, replies with a quote that jumps to the original, unread
// counts and a "New messages" divider from the server's read markers
// (mark / marked / unread, so every window of a user agrees), and search.

import { el, fmtTime, fmtFull, fmtDay, dayKey, hueFor, initials,
         randomKey, storageGet, storageSet } from './util.js';

const PAGE = 50;                  // messages per history page
const TOPICS_EVERY_MS = 10000;    // room list refresh
const TYPING_SEND_EVERY_MS = 2500;
const TYPING_SHOW_MS = 6000;
const GROUP_WITHIN_MS = 5 * 60000;
const MAX_ROOM_BYTES = 200;
const MAX_TEXT_BYTES = 60000;

const enc = new TextEncoder();

// Returns an error message for a room name the topic rules would refuse,
// or null when it is fine.
export function roomProblem(name) {
    if (name.length === 0)
        return 'Type a room name.';
    if (enc.encode(name).length > MAX_ROOM_BYTES)
        return 'That room name is too long.';
    if (/[+#]/.test(name))
        return 'A room name cannot contain + or #.';
    if (/[\u0000-\u001f\u007f-\u009f]/.test(name))
        return 'A room name cannot contain control characters.';
    if (name.split('/').some((level) => level.length === 0))
        return 'A room name cannot start or end with / or contain //.';
    return null;
}

class Room {
    constructor(name) {
        this.name = name;
        this.topic = 'chat/' + name;
        this.typingTopic = 'typing/' + name;
        this.msgs = new Map();     // seq -> {seq, ts, from, data}
        this.order = [];           // seqs, ascending
        this.lastSeq = null;       // highest seq received (for since)
        this.baseline = null;      // latest seq when first joined
        this.exhausted = false;    // no older messages to load
        this.loadingOlder = false;
        this.members = new Set();
        this.typing = new Map();   // user -> timer
        this.unread = 0;
        this.marked = 0;           // the user's read marker (server's)
        this.markSent = 0;         // highest marker sent from here
        this.dividerAt = null;     // "New messages" after this seq
        this.edits = new Map();    // original seq -> its newest edit
        this.deleted = new Set();  // seqs whose message was deleted
        this.pending = [];         // outbox: {key, text, ts, seq, error}
        this.subscribed = false;   // on the current connection
        this.lost = false;         // the server could not recover a gap
    }

    get oldestSeq() {
        return this.order.length ? this.order[0] : null;
    }

    // Store a message; false if it is a duplicate (same seq).
    add(m) {
        if (!Number.isSafeInteger(m.seq) || m.seq < 1 || this.msgs.has(m.seq))
            return false;
        this.msgs.set(m.seq, m);
        const o = this.order;
        if (o.length === 0 || m.seq > o[o.length - 1]) {
            o.push(m.seq);
        } else {
            let lo = 0;
            let hi = o.length;
            while (lo < hi) {
                const mid = (lo + hi) >> 1;
                if (o[mid] < m.seq)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            o.splice(lo, 0, m.seq);
        }
        if (this.lastSeq === null || m.seq > this.lastSeq)
            this.lastSeq = m.seq;
        if (m.seq === 1)
            this.exhausted = true;
        if (m.edit_of) {
            const prev = this.edits.get(m.edit_of);
            if (!prev || prev.seq < m.seq)
                this.edits.set(m.edit_of, m);
        }
        if (m.redacts)
            this.deleted.add(m.redacts);
        if (m.redacted && !m.edit_of)
            this.deleted.add(m.seq);
        return true;
    }

    // Unread: messages after the marker by others, not edits or
    // deletions (as the server counts them), among those held here.
    countUnread(me) {
        let n = 0;
        for (let i = this.order.length - 1; i >= 0; i--) {
            const m = this.msgs.get(this.order[i]);
            if (m.seq <= this.marked)
                break;
            if (m.from !== me && !isMeta(m) && !this.deleted.has(m.seq))
                n++;
        }
        return n;
    }
}

// An edit or a deletion: shown in place of the message it concerns.
function isMeta(m) {
    return !!(m.edit_of || m.redacts);
}

// A message as the view keeps it, from a msg frame or a history item.
function toMessage(f) {
    const m = {
        seq: f.seq,
        ts: typeof f.ts === 'number' ? f.ts : Date.now(),
        from: typeof f.from === 'string' ? f.from : '?',
        data: f.data,
    };
    for (const k of ['edit_of', 'redacts', 'reply_to']) {
        if (Number.isSafeInteger(f[k]) && f[k] > 0)
            m[k] = f[k];
    }
    if (f.redacted === true)
        m.redacted = true;
    return m;
}

function messageText(data) {
    if (typeof data === 'string')
        return data;
    if (data && typeof data === 'object' && typeof data.text === 'string')
        return data.text;
    if (data === null || data === undefined)
        return '';
    return JSON.stringify(data);
}

export class ChatView {
    constructor(conn, root) {
        this.conn = conn;
        this.root = root;
        this.rooms = new Map();
        this.current = null;
        this.known = new Map();    // room name -> {seq, members}
        this.topicsSupported = true;
        this.topicsTimer = null;
        this.lastTypingSent = 0;
        this.rendered = null;      // {room, seq, from, ts, day, count}
        this.editing = null;       // {room, seq}: the composer edits seq
        this.replying = null;      // {room, seq}: the composer answers seq
        this.onTitle = () => {};

        const $ = (id) => document.getElementById(id);
        this.ui = {
            joinForm: $('join-form'),
            roomInput: $('room-input'),
            roomError: $('room-error'),
            joined: $('joined-rooms'),
            others: $('other-rooms'),
            othersHead: $('other-rooms-head'),
            title: $('room-title'),
            meta: $('room-meta'),
            leave: $('leave-room'),
            membersToggle: $('members-toggle'),
            membersPane: $('members-pane'),
            membersClose: $('members-close'),
            log: $('messages'),
            list: $('message-list'),
            pendingList: $('pending-list'),
            older: $('load-older'),
            olderState: $('older-state'),
            empty: $('room-empty'),
            jump: $('jump-latest'),
            notice: $('room-notice'),
            typing: $('typing'),
            composer: $('composer'),
            input: $('message-input'),
            send: $('send'),
            members: $('members'),
            memberCount: $('member-count'),
            context: $('compose-context'),
            contextText: $('compose-context-text'),
            contextCancel: $('compose-cancel'),
            searchForm: $('search-form'),
            searchInput: $('search-input'),
            searchResults: $('search-results'),
        };
        this.bind();
        this.restore();
        this.renderAll();
    }

    // -- wiring --------------------------------------------------------

    bind() {
        const ui = this.ui;
        const conn = this.conn;

        ui.joinForm.addEventListener('submit', (ev) => {
            ev.preventDefault();
            this.onJoinSubmit();
        });
        ui.roomInput.addEventListener('input', () => {
            ui.roomError.textContent = '';
            ui.roomInput.removeAttribute('aria-invalid');
        });
        ui.composer.addEventListener('submit', (ev) => {
            ev.preventDefault();
            this.sendCurrent();
        });
        ui.input.addEventListener('keydown', (ev) => {
            if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
                ev.preventDefault();
                this.sendCurrent();
            } else if (ev.key === 'ArrowUp' && ui.input.value === '' &&
                       !this.editing) {
                const room = this.currentRoom();
                const seq = room && this.lastOwn(room);
                if (seq) {
                    ev.preventDefault();
                    this.startEdit(room, seq);
                }
            } else if (ev.key === 'Escape' && (this.editing ||
                                               this.replying)) {
                ev.preventDefault();
                this.cancelCompose();
            }
        });
        ui.contextCancel.addEventListener('click', () => {
            this.cancelCompose();
            ui.input.focus();
        });
        ui.searchForm.addEventListener('submit', (ev) => {
            ev.preventDefault();
            this.search(ui.searchInput.value.trim());
        });
        document.addEventListener('visibilitychange', () => {
            const room = this.currentRoom();
            if (room)
                this.markRead(room);
        });
        ui.input.addEventListener('input', () => this.onTypingInput());
        ui.log.addEventListener('scroll', () => this.onScroll(),
                                { passive: true });
        ui.older.addEventListener('click', () => {
            const room = this.currentRoom();
            if (room)
                this.loadOlder(room);
        });
        ui.jump.addEventListener('click', () => {
            this.scrollToBottom();
            ui.input.focus();
        });
        ui.leave.addEventListener('click', () => {
            if (this.current)
                this.leave(this.current);
        });
        const showMembers = (open) => {
            ui.membersPane.classList.toggle('open', open);
            ui.membersToggle.setAttribute('aria-expanded', String(open));
            if (open)
                ui.membersClose.focus();
            else if (document.activeElement === ui.membersClose ||
                     ui.membersPane.contains(document.activeElement))
                ui.membersToggle.focus();
        };
        ui.membersToggle.addEventListener('click', () => {
            showMembers(!ui.membersPane.classList.contains('open'));
        });
        ui.membersClose.addEventListener('click', () => showMembers(false));
        ui.membersPane.addEventListener('keydown', (ev) => {
            if (ev.key === 'Escape')
                showMembers(false);
        });

        conn.addEventListener('ready', () => this.onReady());
        conn.addEventListener('state', () => this.onConnState());
        conn.addEventListener('frame', (ev) => this.onFrame(ev.detail));
    }

    restore() {
        const names = storageGet('parley.rooms', []);
        if (Array.isArray(names)) {
            for (const n of names) {
                if (typeof n === 'string' && roomProblem(n) === null)
                    this.rooms.set(n, new Room(n));
            }
        }
        const cur = storageGet('parley.room', null);
        if (typeof cur === 'string' && this.rooms.has(cur))
            this.current = cur;
        else if (this.rooms.size)
            this.current = this.rooms.keys().next().value;
    }

    save() {
        storageSet('parley.rooms', Array.from(this.rooms.keys()));
        storageSet('parley.room', this.current);
    }

    currentRoom() {
        return this.current ? this.rooms.get(this.current) || null : null;
    }

    // The room named in the URL (#/chat/<room>), or the remembered one.
    route(roomName) {
        if (roomName && roomProblem(roomName) === null)
            this.open(roomName, { fromRoute: true });
        else if (this.current)
            this.updateHash(this.current, true);
    }

    updateHash(name, replace) {
        const hash = '#/chat/' + encodeURIComponent(name);
        if (location.hash === hash)
            return;
        if (replace)
            history.replaceState(null, '', hash);
        else
            history.pushState(null, '', hash);
    }

    onJoinSubmit() {
        const ui = this.ui;
        const name = ui.roomInput.value.trim();
        const problem = roomProblem(name);
        if (problem) {
            ui.roomError.textContent = problem;
            ui.roomInput.setAttribute('aria-invalid', 'true');
            ui.roomInput.focus();
            return;
        }
        ui.roomInput.value = '';
        this.open(name);
        ui.input.focus();
    }

    // Join a room (if needed) and show it.
    open(name, opts = {}) {
        let room = this.rooms.get(name);
        if (!room) {
            room = new Room(name);
            this.rooms.set(name, room);
            if (this.conn.online)
                this.subscribe(room);
        }
        const changed = this.current !== name;
        this.current = name;
        if (changed) {
            room.dividerAt = room.unread > 0 ? room.marked : null;
            this.cancelCompose();
        }
        room.unread = 0;
        this.save();
        if (!opts.fromRoute)
            this.updateHash(name, false);
        if (changed)
            this.rendered = null;
        this.renderAll();
        if (changed)
            this.scrollToBottom();
        this.markRead(room);
    }

    leave(name) {
        const room = this.rooms.get(name);
        if (!room)
            return;
        for (const t of room.typing.values())
            clearTimeout(t);
        this.rooms.delete(name);
        if (this.conn.online) {
            this.conn.request({ op: 'unsub', topic: room.topic }).catch(() => {});
            this.conn.request({ op: 'unsub', topic: room.typingTopic })
                .catch(() => {});
        }
        if (this.current === name) {
            this.current = this.rooms.size ? this.rooms.keys().next().value
                                           : null;
            this.rendered = null;
            if (this.current)
                this.updateHash(this.current, true);
            else
                history.replaceState(null, '', '#/chat');
        }
        this.save();
        this.renderAll();
        this.refreshTopics();
    }

    // -- connection ----------------------------------------------------

    onReady() {
        const user = this.conn.user;
        this.me = user;
        const nameInput = document.getElementById('name-input');
        if (nameInput)
            nameInput.placeholder = user;
        for (const room of this.rooms.values()) {
            room.subscribed = false;
            this.subscribe(room);
        }
        this.refreshTopics();
        this.refreshUnread();
        clearInterval(this.topicsTimer);
        this.topicsTimer = setInterval(() => this.refreshTopics(),
                                       TOPICS_EVERY_MS);
        this.renderComposer();
    }

    onConnState() {
        if (!this.conn.online) {
            clearInterval(this.topicsTimer);
            this.topicsTimer = null;
            for (const room of this.rooms.values())
                room.subscribed = false;
        }
        this.renderComposer();
        this.renderPending();
    }

    async subscribe(room) {
        const conn = this.conn;
        const cmd = { op: 'sub', topic: room.topic, presence: true };
        if (room.lastSeq !== null)
            cmd.since = room.lastSeq;
        else
            cmd.history = PAGE;
        try {
            const reply = await conn.request(cmd);
            if (this.rooms.get(room.name) !== room)
                return;
            if (room.baseline === null)
                room.baseline = reply.seq || 0;
            if (reply.seq === 0 && room.lastSeq === null)
                room.exhausted = true;
            if (reply.recovered === false && cmd.since !== undefined) {
                room.lost = true;
                this.renderNotice();
            }
            room.subscribed = true;
            conn.request({ op: 'sub', topic: room.typingTopic })
                .catch(() => {});
            const p = await conn.request({ op: 'presence', topic: room.topic });
            if (this.rooms.get(room.name) !== room)
                return;
            room.members = new Set(p.members || []);
            if (room.name === this.current)
                this.renderMembers();
            for (const item of room.pending) {
                if (item.seq === undefined && !item.error)
                    this.publish(room, item);
            }
            this.renderRoomLists();
        } catch (e) {
            if (e.code !== 'offline' && e.code !== 'timeout' &&
                this.rooms.get(room.name) === room)
                this.showNotice('Could not join ' + room.name + ': ' +
                                e.message);
        }
    }

    async refreshTopics() {
        if (!this.conn.online || !this.topicsSupported)
            return;
        try {
            const reply = await this.conn.request({ op: 'topics',
                                                    prefix: 'chat/' });
            this.known.clear();
            for (const t of reply.topics || []) {
                if (typeof t.topic !== 'string' || !t.topic.startsWith('chat/'))
                    continue;
                this.known.set(t.topic.slice(5), {
                    seq: t.seq, members: t.members,
                });
            }
            this.renderRoomLists();
        } catch (e) {
            if (e.code === 'unknown_op')
                this.topicsSupported = false;
        }
    }

    onFrame(f) {
        if (typeof f.topic !== 'string')
            return;
        if (f.op === 'marked') {
            this.onMarked(f);
        } else if (f.op === 'msg') {
            if (f.topic.startsWith('chat/'))
                this.onChatMsg(f);
            else if (f.topic.startsWith('typing/'))
                this.onTypingMsg(f);
        } else if (f.op === 'join' || f.op === 'leave') {
            const room = f.topic.startsWith('chat/') &&
                         this.rooms.get(f.topic.slice(5));
            if (!room || typeof f.user !== 'string')
                return;
            if (f.op === 'join')
                room.members.add(f.user);
            else
                room.members.delete(f.user);
            if (f.op === 'leave')
                this.stopTyping(room, f.user);
            if (room.name === this.current)
                this.renderMembers();
        }
    }

    onChatMsg(f) {
        const room = this.rooms.get(f.topic.slice(5));
        if (!room)
            return;
        const m = toMessage(f);
        if (!room.add(m))
            return;
        this.stopTyping(room, m.from);
        const before = room.pending.length;
        room.pending = room.pending.filter((p) => p.seq !== m.seq);
        if (m.from === this.me && room.pending.length === before) {
            // Our own message may come before the reply to its pub: it
            // replaces the oldest unacknowledged outbox item with its text.
            const text = messageText(m.data);
            const i = room.pending.findIndex((p) => p.seq === undefined &&
                                                    !p.error &&
                                                    p.text === text);
            if (i >= 0)
                room.pending.splice(i, 1);
        }
        if (room.name !== this.current) {
            if (m.seq > room.marked && m.from !== this.me && !isMeta(m)) {
                room.unread++;
                this.renderRoomLists();
            } else if (m.redacts && room.unread > 0) {
                room.unread = room.countUnread(this.me);
                this.renderRoomLists();
            }
            return;
        }
        const own = m.from === this.me;
        if (isMeta(m))
            this.renderMessages({ full: true, keepBottomOffset: true });
        else
            this.renderMessages({ own });
        if (before !== room.pending.length)
            this.renderPending();
        this.markRead(room);
    }

    // -- read markers ----------------------------------------------------

    // The user has seen the current room up to its newest message when
    // this window shows it scrolled to the bottom: move the marker there.
    markRead(room) {
        if (room.name !== this.current || !this.conn.online ||
            document.visibilityState !== 'visible' || !this.atBottom() ||
            room.lastSeq === null)
            return;
        const seq = room.lastSeq;
        if (seq <= room.marked || seq <= room.markSent)
            return;
        room.markSent = seq;
        this.conn.request({ op: 'mark', topic: room.topic, seq })
            .then((reply) => this.setMarked(room, reply.seq))
            .catch(() => { room.markSent = 0; });
    }

    // Another window of ours (or this one) moved a marker.
    onMarked(f) {
        const room = f.topic.startsWith('chat/') &&
                     this.rooms.get(f.topic.slice(5));
        if (room && Number.isSafeInteger(f.seq))
            this.setMarked(room, f.seq);
    }

    setMarked(room, seq) {
        if (!Number.isSafeInteger(seq) || seq <= room.marked)
            return;
        room.marked = seq;
        if (room.name !== this.current) {
            room.unread = room.lastSeq !== null && seq >= room.lastSeq
                ? 0 : Math.min(room.unread, room.countUnread(this.me));
            this.renderRoomLists();
        }
    }

    // Markers and unread counts of every joined room, from the server.
    async refreshUnread() {
        try {
            const reply = await this.conn.request({ op: 'unread',
                                                    topic: 'chat/#' });
            for (const t of reply.topics || []) {
                const room = typeof t.topic === 'string' &&
                             t.topic.startsWith('chat/') &&
                             this.rooms.get(t.topic.slice(5));
                if (!room)
                    continue;
                if (Number.isSafeInteger(t.marked) && t.marked > room.marked)
                    room.marked = t.marked;
                if (room.name !== this.current &&
                    Number.isSafeInteger(t.unread))
                    room.unread = t.unread;
            }
            this.renderRoomLists();
            const cur = this.currentRoom();
            if (cur)
                this.markRead(cur);
        } catch (e) {
            // An older server without markers: counts stay local.
        }
    }

    // -- typing --------------------------------------------------------

    onTypingMsg(f) {
        const room = this.rooms.get(f.topic.slice(7));
        if (!room || typeof f.from !== 'string' || f.from === this.me)
            return;
        const typing = !(f.data && typeof f.data === 'object' &&
                         f.data.typing === false);
        if (!typing) {
            this.stopTyping(room, f.from);
            return;
        }
        clearTimeout(room.typing.get(f.from));
        room.typing.set(f.from, setTimeout(() => {
            this.stopTyping(room, f.from);
        }, TYPING_SHOW_MS));
        if (room.name === this.current)
            this.renderTyping();
    }

    stopTyping(room, user) {
        if (!room.typing.has(user))
            return;
        clearTimeout(room.typing.get(user));
        room.typing.delete(user);
        if (room.name === this.current)
            this.renderTyping();
    }

    onTypingInput() {
        const room = this.currentRoom();
        const now = Date.now();
        if (!room || this.ui.input.value.trim() === '' ||
            now - this.lastTypingSent < TYPING_SEND_EVERY_MS)
            return;
        if (this.conn.send({ op: 'pub', topic: room.typingTopic,
                             data: { typing: true } }))
            this.lastTypingSent = now;
    }

    // -- sending -------------------------------------------------------

    sendCurrent() {
        const room = this.currentRoom();
        const ui = this.ui;
        const text = ui.input.value;
        if (!room || text.trim() === '')
            return;
        if (enc.encode(text).length > MAX_TEXT_BYTES) {
            this.showNotice('That message is too long.');
            return;
        }
        if (this.editing && this.editing.room === room) {
            const seq = this.editing.seq;
            this.cancelCompose();
            ui.input.value = '';
            this.conn.request({ op: 'edit', topic: room.topic, seq,
                                data: { text } })
                .catch((e) => this.showNotice('Not edited: ' +
                                              (e.message || e.code)));
            return;
        }
        const item = { key: randomKey(), text, ts: Date.now() };
        if (this.replying && this.replying.room === room)
            item.replyTo = this.replying.seq;
        this.cancelCompose();
        room.pending.push(item);
        ui.input.value = '';
        if (this.lastTypingSent) {
            this.conn.send({ op: 'pub', topic: room.typingTopic,
                             data: { typing: false } });
            this.lastTypingSent = 0;
        }
        this.renderPending();
        this.scrollToBottom();
        if (room.subscribed)
            this.publish(room, item);
    }

    // Publish one outbox item. Its key makes a retry after a lost reply
    // harmless: the server answers with the original seq.
    async publish(room, item) {
        if (item.inflight)
            return;
        item.inflight = true;
        try {
            const cmd = { op: 'pub', topic: room.topic,
                          data: { text: item.text }, key: item.key };
            if (item.replyTo)
                cmd.reply_to = item.replyTo;
            const reply = await this.conn.request(cmd);
            item.seq = reply.seq;
            if (room.msgs.has(reply.seq)) {
                room.pending = room.pending.filter((p) => p !== item);
                if (room.name === this.current)
                    this.renderPending();
            }
        } catch (e) {
            if (e.code !== 'offline' && e.code !== 'timeout') {
                item.error = e.message || e.code;
                if (room.name === this.current)
                    this.renderPending();
            }
        } finally {
            item.inflight = false;
        }
    }

    // -- edit, delete, reply -------------------------------------------

    // The newest message of mine in room that can still be edited.
    lastOwn(room) {
        for (let i = room.order.length - 1; i >= 0; i--) {
            const m = room.msgs.get(room.order[i]);
            if (m.from === this.me && !isMeta(m) && !room.deleted.has(m.seq))
                return m.seq;
        }
        return null;
    }

    // The text a message shows now: its newest edit's, or its own.
    currentText(room, m) {
        const e = room.edits.get(m.seq);
        return messageText(e ? e.data : m.data);
    }

    startEdit(room, seq) {
        const m = room.msgs.get(seq);
        if (!m)
            return;
        this.replying = null;
        this.editing = { room, seq };
        this.ui.input.value = this.currentText(room, m);
        this.renderContext('Editing your message');
        this.ui.input.focus();
    }

    startReply(room, seq) {
        const m = room.msgs.get(seq);
        if (!m)
            return;
        this.editing = null;
        this.replying = { room, seq };
        this.renderContext('Replying to ' + m.from + ': ' +
                           this.currentText(room, m));
        this.ui.input.focus();
    }

    cancelCompose() {
        const wasEditing = !!this.editing;
        this.editing = null;
        this.replying = null;
        if (wasEditing)
            this.ui.input.value = '';
        this.renderContext(null);
    }

    renderContext(text) {
        this.ui.context.hidden = text === null;
        this.ui.contextText.textContent = text || '';
    }

    deleteMessage(room, seq) {
        this.conn.request({ op: 'delete', topic: room.topic, seq })
            .catch((e) => this.showNotice('Not deleted: ' +
                                          (e.message || e.code)));
    }

    // Show message seq of room (loading it when it is not held), scrolled
    // into view and highlighted.
    async jumpTo(room, seq) {
        if (!room.msgs.has(seq) && this.conn.online) {
            try {
                const reply = await this.conn.request({
                    op: 'history', topic: room.topic, before: seq + 1,
                    limit: PAGE,
                });
                for (const m of reply.messages || [])
                    room.add(toMessage(m));
            } catch (e) {
                // Not loadable: nothing to jump to.
            }
            if (room.name === this.current)
                this.renderMessages({ full: true, keepBottomOffset: true });
        }
        const node = this.ui.list.querySelector('.msg[data-seq="' + seq +
                                                '"]');
        if (!node)
            return;
        node.scrollIntoView({ block: 'center' });
        node.classList.add('highlight');
        node.setAttribute('tabindex', '-1');
        node.focus({ preventScroll: true });
        setTimeout(() => node.classList.remove('highlight'), 2000);
    }

    // -- search ----------------------------------------------------------

    async search(q) {
        const ui = this.ui;
        if (q === '' || !this.conn.online)
            return;
        let reply;
        try {
            reply = await this.conn.request({ op: 'search', topic: 'chat/#',
                                              q, limit: 20 });
        } catch (e) {
            this.showNotice('Search failed: ' + (e.message || e.code));
            return;
        }
        const items = [];
        for (const r of reply.messages || []) {
            if (typeof r.topic !== 'string' || !r.topic.startsWith('chat/'))
                continue;
            const name = r.topic.slice(5);
            const target = r.edit_of || r.seq;
            const text = messageText(r.data);
            const btn = el('button', { type: 'button', class: 'result-btn' },
                el('span', { class: 'result-room' }, '#' + name),
                el('span', { class: 'result-from' }, r.from),
                el('span', { class: 'result-text' }, text));
            btn.setAttribute('aria-label', 'Go to ' + r.from + ' in ' + name +
                             ': ' + text);
            btn.addEventListener('click', () => {
                this.open(name);
                this.jumpTo(this.rooms.get(name), target);
            });
            items.push(el('li', null, btn));
        }
        if (items.length === 0)
            items.push(el('li', { class: 'hint' }, 'No messages found.'));
        ui.searchResults.replaceChildren(...items);
        ui.searchResults.hidden = false;
    }

    // -- history -------------------------------------------------------

    onScroll() {
        const log = this.ui.log;
        const up = log.scrollTop < (this.lastScrollTop ?? Infinity);
        this.lastScrollTop = log.scrollTop;
        // Older messages load when the reader scrolls up near the top,
        // not while new ones fill a short list.
        if (up && log.scrollTop < 120) {
            const room = this.currentRoom();
            if (room)
                this.loadOlder(room);
        }
        if (this.atBottom()) {
            this.ui.jump.hidden = true;
            const room = this.currentRoom();
            if (room)
                this.markRead(room);
        }
    }

    async loadOlder(room) {
        if (room.loadingOlder || room.exhausted || room.oldestSeq === null ||
            !this.conn.online)
            return;
        room.loadingOlder = true;
        this.renderOlder();
        try {
            const reply = await this.conn.request({
                op: 'history', topic: room.topic, before: room.oldestSeq,
                limit: PAGE,
            });
            const msgs = reply.messages || [];
            for (const m of msgs)
                room.add(toMessage(m));
            if (msgs.length < PAGE)
                room.exhausted = true;
        } catch (e) {
            if (e.code !== 'offline' && e.code !== 'timeout')
                room.exhausted = true;
        } finally {
            room.loadingOlder = false;
        }
        if (room.name === this.current) {
            this.renderMessages({ keepBottomOffset: true });
            // Keep loading while the list is too short to scroll.
            const log = this.ui.log;
            if (!room.exhausted && log.scrollHeight <= log.clientHeight + 10)
                this.loadOlder(room);
        }
    }

    // -- rendering -----------------------------------------------------

    renderAll() {
        this.renderRoomLists();
        this.renderHeader();
        this.renderMessages({ full: true });
        this.renderPending();
        this.renderMembers();
        this.renderTyping();
        this.renderComposer();
        this.renderNotice();
    }

    renderRoomLists() {
        const ui = this.ui;
        const joined = [];
        for (const room of this.rooms.values()) {
            const cur = room.name === this.current;
            const btn = el('button', {
                type: 'button', class: 'room-btn',
                'aria-current': cur ? 'true' : false,
            }, el('span', { class: 'hash', 'aria-hidden': 'true' }, '#'),
               el('span', { class: 'room-name' }, room.name));
            if (room.unread > 0 && !cur) {
                btn.append(el('span', { class: 'badge', 'aria-hidden': 'true' },
                              String(room.unread)));
                btn.setAttribute('aria-label', room.name + ', ' +
                                 room.unread + ' unread');
                btn.classList.add('has-unread');
            }
            btn.addEventListener('click', () => this.open(room.name));
            joined.push(el('li', null, btn));
        }
        if (joined.length === 0)
            joined.push(el('li', { class: 'hint' }, 'No rooms yet.'));
        ui.joined.replaceChildren(...joined);

        const others = [];
        const names = Array.from(this.known.keys())
            .filter((n) => !this.rooms.has(n) && roomProblem(n) === null)
            .sort((a, b) => a.localeCompare(b));
        for (const name of names) {
            const info = this.known.get(name);
            const btn = el('button', { type: 'button', class: 'room-btn' },
                el('span', { class: 'hash', 'aria-hidden': 'true' }, '#'),
                el('span', { class: 'room-name' }, name));
            if (info.members > 0) {
                btn.append(el('span', { class: 'count', 'aria-hidden': 'true' },
                              String(info.members)));
                btn.setAttribute('aria-label', name + ', ' + info.members +
                                 (info.members === 1 ? ' member' : ' members'));
            }
            btn.addEventListener('click', () => this.open(name));
            others.push(el('li', null, btn));
        }
        ui.others.replaceChildren(...others);
        ui.others.hidden = others.length === 0;
        ui.othersHead.hidden = others.length === 0;
        this.onTitle(this.totalUnread(), this.current);
    }

    totalUnread() {
        let n = 0;
        for (const room of this.rooms.values())
            n += room.unread;
        return n;
    }

    renderHeader() {
        const ui = this.ui;
        const room = this.currentRoom();
        if (room)
            ui.title.replaceChildren(
                el('span', { class: 'hash', 'aria-hidden': 'true' }, '#'),
                room.name);
        else
            ui.title.textContent = 'Parley';
        ui.leave.hidden = !room;
        ui.membersToggle.hidden = !room;
        ui.empty.hidden = !!room;
        ui.log.hidden = !room;
        ui.meta.textContent = room ? room.topic : '';
    }

    renderComposer() {
        const ui = this.ui;
        const room = this.currentRoom();
        ui.input.disabled = !room;
        ui.send.disabled = !room;
        ui.input.placeholder = room ? 'Message #' + room.name +
            (this.conn.online ? '' : ' (offline: sent when back)')
                                    : 'Join a room first';
    }

    renderNotice() {
        const room = this.currentRoom();
        const ui = this.ui;
        if (room && room.lost) {
            ui.notice.textContent = 'Some older messages of this room are ' +
                'no longer stored on the server.';
            ui.notice.hidden = false;
        } else if (!this.noticeText) {
            ui.notice.hidden = true;
            ui.notice.textContent = '';
        }
    }

    showNotice(text) {
        const ui = this.ui;
        this.noticeText = text;
        ui.notice.textContent = text;
        ui.notice.hidden = false;
        clearTimeout(this.noticeTimer);
        this.noticeTimer = setTimeout(() => {
            this.noticeText = null;
            this.renderNotice();
        }, 6000);
    }

    atBottom() {
        const log = this.ui.log;
        return log.scrollHeight - log.scrollTop - log.clientHeight < 48;
    }

    scrollToBottom() {
        const log = this.ui.log;
        log.scrollTop = log.scrollHeight;
        this.lastScrollTop = log.scrollTop;
        this.ui.jump.hidden = true;
    }

    messageNode(room, m, grouped) {
        const edit = room.edits.get(m.seq);
        const deleted = room.deleted.has(m.seq) || m.redacted;
        const data = edit ? edit.data : m.data;
        const text = deleted ? 'message deleted' : messageText(data);
        const structured = !deleted && typeof data !== 'string' &&
            !(data && typeof data === 'object' &&
              typeof data.text === 'string');
        const body = el('div', { class: 'msg-text' + (structured ? ' raw' : '') +
                                        (deleted ? ' deleted' : '') });
        body.textContent = text;
        const time = el('time', {
            datetime: new Date(m.ts).toISOString(), title: fmtFull(m.ts),
        }, fmtTime(m.ts));
        const node = el('div', {
            class: 'msg' + (grouped ? ' grouped' : '') +
                   (m.from === this.me ? ' mine' : ''),
            'data-seq': m.seq,
        });
        const extra = [];
        if (m.reply_to) {
            const orig = room.msgs.get(m.reply_to);
            const quoted = orig ? (room.deleted.has(orig.seq)
                ? 'message deleted' : this.currentText(room, orig)) : '…';
            const quote = el('button', { type: 'button', class: 'quote' },
                el('span', { class: 'quote-from' }, orig ? orig.from : ''),
                el('span', { class: 'quote-text' }, quoted));
            quote.setAttribute('aria-label', 'Show the message replied to' +
                               (orig ? ', from ' + orig.from : ''));
            quote.addEventListener('click', () => this.jumpTo(room,
                                                              m.reply_to));
            extra.push(quote);
        }
        extra.push(body);
        if (edit && !deleted)
            extra.push(el('span', { class: 'edited' }, 'edited'));
        if (!deleted)
            extra.push(this.messageActions(room, m));
        if (grouped) {
            node.append(el('div', { class: 'gutter' }, time), ...extra);
        } else {
            const avatar = el('div', {
                class: 'avatar hue-' + (hueFor(m.from) % 8),
                'aria-hidden': 'true',
            }, initials(m.from));
            node.append(avatar, el('div', { class: 'msg-main' },
                el('div', { class: 'msg-head' },
                   el('span', { class: 'sender' }, m.from), time),
                ...extra));
        }
        return node;
    }

    // Reply to any message; edit and delete one's own.
    messageActions(room, m) {
        const bar = el('div', { class: 'msg-actions' });
        const add = (label, fn) => {
            const b = el('button', { type: 'button', class: 'link' }, label);
            b.setAttribute('aria-label', label + ' message ' + m.seq);
            b.addEventListener('click', fn);
            bar.append(b);
        };
        add('Reply', () => this.startReply(room, m.seq));
        if (m.from === this.me) {
            add('Edit', () => this.startEdit(room, m.seq));
            add('Delete', () => this.deleteMessage(room, m.seq));
        }
        return bar;
    }

    newDivider() {
        return el('div', { class: 'new-divider', role: 'separator',
                           'aria-label': 'New messages' },
                  el('span', null, 'New messages'));
    }

    dayNode(ts) {
        const label = fmtDay(ts);
        return el('div', { class: 'day', role: 'separator',
                           'aria-label': label },
                  el('span', null, label));
    }

    // Render the current room's messages: appends what is new when only
    // newer messages came, rebuilds the list otherwise.
    renderMessages(opts = {}) {
        const ui = this.ui;
        const room = this.currentRoom();
        if (!room) {
            ui.list.replaceChildren();
            this.rendered = null;
            this.renderOlder();
            return;
        }
        const wasBottom = this.atBottom();
        const fromBottom = ui.log.scrollHeight - ui.log.scrollTop;
        let r = this.rendered;
        const order = room.order;
        const incremental = !opts.full && r && r.room === room &&
            r.count <= order.length &&
            (r.count === 0 || order[r.count - 1] === r.seq) &&
            (r.count === 0 || order[0] === r.first);
        let start = 0;
        if (!incremental) {
            ui.list.replaceChildren();
            r = this.rendered = { room, seq: null, first: order[0],
                                  from: null, ts: 0, day: null, count: 0 };
        } else {
            start = r.count;
        }
        const frag = document.createDocumentFragment();
        for (let i = start; i < order.length; i++) {
            const m = room.msgs.get(order[i]);
            if (isMeta(m)) {
                r.seq = m.seq;   // shown in place of what it concerns
                continue;
            }
            if (!incremental && room.dividerAt !== null && !r.divided &&
                m.seq > room.dividerAt && m.from !== this.me) {
                frag.append(this.newDivider());
                r.divided = true;
                r.from = null;
            }
            const day = dayKey(m.ts);
            let grouped = false;
            if (day !== r.day) {
                frag.append(this.dayNode(m.ts));
                r.day = day;
            } else if (r.from === m.from && m.ts - r.ts < GROUP_WITHIN_MS) {
                grouped = true;
            }
            frag.append(this.messageNode(room, m, grouped));
            r.from = m.from;
            r.ts = m.ts;
            r.seq = m.seq;
        }
        r.count = order.length;
        r.first = order[0];
        ui.list.append(frag);
        this.renderOlder();
        if (opts.keepBottomOffset) {
            ui.log.scrollTop = ui.log.scrollHeight - fromBottom;
            this.lastScrollTop = ui.log.scrollTop;
        } else if (wasBottom || opts.own || opts.full) {
            this.scrollToBottom();
        } else if (start < order.length) {
            ui.jump.hidden = false;
        }
    }

    renderOlder() {
        const ui = this.ui;
        const room = this.currentRoom();
        const more = room && !room.exhausted && room.oldestSeq !== null &&
                     room.oldestSeq > 1;
        ui.older.hidden = !more;
        ui.older.disabled = !!(room && room.loadingOlder);
        ui.older.textContent = room && room.loadingOlder
            ? 'Loading older messages…' : 'Load older messages';
        let state = '';
        if (room && !more && room.order.length > 0)
            state = 'This is the beginning of #' + room.name + '.';
        else if (room && room.order.length === 0 && room.pending.length === 0)
            state = 'No messages in #' + room.name + ' yet. Say hello!';
        ui.olderState.textContent = state;
        ui.olderState.hidden = state === '';
    }

    renderPending() {
        const ui = this.ui;
        const room = this.currentRoom();
        const nodes = [];
        for (const item of room ? room.pending : []) {
            const status = item.error ? 'Not sent: ' + item.error
                : this.conn.online ? 'Sending…' : 'Waiting for connection…';
            const body = el('div', { class: 'msg-text' });
            body.textContent = item.text;
            const node = el('div', { class: 'msg pending mine' +
                                           (item.error ? ' failed' : '') },
                el('div', { class: 'avatar hue-' + (hueFor(this.me || '') % 8),
                            'aria-hidden': 'true' },
                   initials(this.me || '?')),
                el('div', { class: 'msg-main' },
                   el('div', { class: 'msg-head' },
                      el('span', { class: 'sender' }, this.me || 'you'),
                      el('span', { class: 'status' }, status)),
                   body));
            if (item.error) {
                const drop = el('button', { type: 'button', class: 'link' },
                                'Discard');
                drop.addEventListener('click', () => {
                    room.pending = room.pending.filter((p) => p !== item);
                    this.renderPending();
                });
                node.querySelector('.msg-head').append(drop);
            }
            nodes.push(node);
        }
        ui.pendingList.replaceChildren(...nodes);
        this.renderOlder();
    }

    renderMembers() {
        const ui = this.ui;
        const room = this.currentRoom();
        const names = room ? Array.from(room.members) : [];
        names.sort((a, b) => (a === this.me ? -1 : b === this.me ? 1
                              : a.localeCompare(b)));
        ui.members.replaceChildren(...names.map((n) => el('li', null,
            el('span', { class: 'avatar small hue-' + (hueFor(n) % 8),
                         'aria-hidden': 'true' }, initials(n)),
            el('span', { class: 'member-name' }, n),
            n === this.me ? el('span', { class: 'you' }, 'you') : null)));
        ui.memberCount.textContent = room ? String(names.length) : '';
        ui.membersToggle.textContent = 'Members (' + names.length + ')';
    }

    renderTyping() {
        const room = this.currentRoom();
        const who = room ? Array.from(room.typing.keys()).sort() : [];
        let text = '';
        if (who.length === 1)
            text = who[0] + ' is typing…';
        else if (who.length === 2)
            text = who[0] + ' and ' + who[1] + ' are typing…';
        else if (who.length > 2)
            text = who.length + ' people are typing…';
        this.ui.typing.textContent = text;
        this.ui.typing.classList.toggle('active', text !== '');
    }
}
