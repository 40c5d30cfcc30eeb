// util.js: small DOM and formatting helpers shared by the views. Every
// piece of text that came from the network reaches the page through
// textContent (el's string children), never through innerHTML.

// Build an element: el('li', {class: 'x', 'aria-label': 'y'}, 'text', child)
// String children become text nodes. Attributes are set with
// setAttribute; "class" and boolean true values are handled.
export function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    if (attrs) {
        for (const [k, v] of Object.entries(attrs)) {
            if (v === false || v === null || v === undefined)
                continue;
            if (k === 'class')
                node.className = v;
            else if (k === 'text')
                node.textContent = v;
            else
                node.setAttribute(k, v === true ? '' : String(v));
        }
    }
    for (const c of children) {
        if (c === null || c === undefined || c === false)
            continue;
        node.append(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return node;
}

const timeFmt = new Intl.DateTimeFormat(undefined, {
    hour: '2-digit', minute: '2-digit',
});
const timeSecFmt = new Intl.DateTimeFormat(undefined, {
    hour: '2-digit', minute: '2-digit', second: '2-digit',
});
const fullFmt = new Intl.DateTimeFormat(undefined, {
    dateStyle: 'full', timeStyle: 'medium',
});
const dayFmt = new Intl.DateTimeFormat(undefined, {
    weekday: 'long', day: 'numeric', month: 'long', year: 'numeric',
});

export function fmtTime(ts) {
    return timeFmt.format(new Date(ts));
}

export function fmtTimeSec(ts) {
    return timeSecFmt.format(new Date(ts));
}

export function fmtFull(ts) {
    return fullFmt.format(new Date(ts));
}

// The local calendar day of a timestamp, as a comparable key.
export function dayKey(ts) {
    const d = new Date(ts);
    return d.getFullYear() * 10000 + (d.getMonth() + 1) * 100 + d.getDate();
}

export function fmtDay(ts, now = Date.now()) {
    const key = dayKey(ts);
    if (key === dayKey(now))
        return 'Today';
    if (key === dayKey(now - 86400000))
        return 'Yesterday';
    return dayFmt.format(new Date(ts));
}

export function fmtAgo(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 5)
        return 'just now';
    if (s < 60)
        return s + ' s ago';
    const m = Math.floor(s / 60);
    if (m < 60)
        return m + ' min ago';
    const h = Math.floor(m / 60);
    if (h < 48)
        return h + ' h ago';
    return Math.floor(h / 24) + ' days ago';
}

// A stable hue for a user name, for avatars.
export function hueFor(name) {
    let h = 0;
    for (let i = 0; i < name.length; i++)
        h = (h * 31 + name.charCodeAt(i)) >>> 0;
    return h % 360;
}

export function initials(name) {
    const parts = name.trim().split(/[\s._-]+/).filter(Boolean);
    if (parts.length === 0)
        return '?';
    const first = Array.from(parts[0])[0] || '?';
    const second = parts.length > 1 ? (Array.from(parts[1])[0] || '') : '';
    return (first + second).toUpperCase();
}

export function randomKey() {
    if (window.crypto && typeof crypto.randomUUID === 'function' &&
        window.isSecureContext)
        return crypto.randomUUID();
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export function storageGet(key, fallback) {
    try {
        const v = localStorage.getItem(key);
        return v === null ? fallback : JSON.parse(v);
    } catch (e) {
        return fallback;
    }
}

export function storageSet(key, value) {
    try {
        localStorage.setItem(key, JSON.stringify(value));
    } catch (e) {
        /* private mode or full: not remembered */
    }
}
