'use strict';
// The Node.js baseline for parley-bench: the subset of the parley.v1
// protocol that the benchmarks use, written the way a careful Node
// developer would write it with the `ws` package:
//
//   hello, sub/unsub with exact topics and MQTT `+`/`#` patterns (each
//   connection gets a message once), pub with a per-topic seq, an ack
//   {"op":"ok","id":..,"topic":..,"seq":..} and `msg` fan-out, ping.
//
// Each message is serialised once and the same Buffer is handed to every
// subscriber; a subscriber with more than 8 MiB unsent is closed with 4008
// (as parleyd does). There is NO persistence: a pub is acknowledged as soon
// as it is fanned out, where parleyd acknowledges after an SQLite commit.
// `since`, `history`, `presence` and retained messages are not implemented.
//
// Usage: node server.js [--port N] [--bind ADDR]
// Prints "listening on http://ADDR:PORT" on stderr when ready.

const http = require('http');
const { WebSocketServer, WebSocket } = require('ws');

const MAX_MESSAGE = 64 * 1024;
const QUEUE_BYTES = 8 * 1024 * 1024;
const MAX_SUBS = 10000;
const SERVER_NAME = 'parley-baseline-node/1.0';

function parseArgs(argv) {
  const opts = { port: 8090, bind: '127.0.0.1' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--port' && i + 1 < argv.length) opts.port = Number(argv[++i]);
    else if (a === '--bind' && i + 1 < argv.length) opts.bind = argv[++i];
    else if (a === '--help') {
      process.stdout.write('usage: node server.js [--port N] [--bind ADDR]\n');
      process.exit(0);
    } else {
      process.stderr.write(`unknown argument ${a}\n`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    process.stderr.write('invalid --port\n');
    process.exit(2);
  }
  return opts;
}

// ---------------------------------------------------------------------
// Topics and patterns (MQTT rules, as in the protocol spec)

// Returns null when valid, else the reason.
function checkTopic(topic, allowWildcards) {
  if (typeof topic !== 'string') return 'topic must be a string';
  const bytes = Buffer.byteLength(topic);
  if (bytes < 1 || bytes > 255) return 'topic must be 1 to 255 bytes';
  if (/[\u0000-\u001f\u007f-\u009f]/.test(topic)) {
    return 'control characters are not allowed';
  }
  const levels = topic.split('/');
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i];
    if (l.length === 0) return 'empty topic level';
    if (l === '+' || l === '#') {
      if (!allowWildcards) return 'wildcards are not allowed here';
      if (l === '#' && i !== levels.length - 1) return '# must be last';
    } else if (l.includes('+') || l.includes('#')) {
      return 'a wildcard must be a whole level';
    }
  }
  return null;
}

function isPattern(topic) {
  return topic === '#' || topic === '+' || topic.endsWith('/#') ||
    topic.startsWith('+/') || topic.includes('/+/') || topic.endsWith('/+');
}

function newNode() {
  return { children: new Map(), plus: null, hash: null, subs: null };
}

// Subscriptions: exact topics in a Map, patterns in a level trie.
class TopicIndex {
  constructor() {
    this.exact = new Map(); // topic -> Set<ws>
    this.root = newNode();
    this.patternSubs = 0;
  }

  add(pattern, ws) {
    if (!isPattern(pattern)) {
      let set = this.exact.get(pattern);
      if (!set) this.exact.set(pattern, (set = new Set()));
      set.add(ws);
      return;
    }
    let node = this.root;
    const levels = pattern.split('/');
    for (const l of levels) {
      if (l === '#') {
        if (!node.hash) node.hash = new Set();
        node.hash.add(ws);
        this.patternSubs++;
        return;
      }
      if (l === '+') {
        if (!node.plus) node.plus = newNode();
        node = node.plus;
      } else {
        let next = node.children.get(l);
        if (!next) node.children.set(l, (next = newNode()));
        node = next;
      }
    }
    if (!node.subs) node.subs = new Set();
    node.subs.add(ws);
    this.patternSubs++;
  }

  remove(pattern, ws) {
    if (!isPattern(pattern)) {
      const set = this.exact.get(pattern);
      if (set && set.delete(ws) && set.size === 0) this.exact.delete(pattern);
      return;
    }
    // Walk down, remember the path, prune empty nodes on the way back.
    const path = [];
    let node = this.root;
    const levels = pattern.split('/');
    for (const l of levels) {
      if (l === '#') {
        if (node.hash && node.hash.delete(ws)) this.patternSubs--;
        if (node.hash && node.hash.size === 0) node.hash = null;
        break;
      }
      const next = l === '+' ? node.plus : node.children.get(l);
      if (!next) return;
      path.push([node, l, next]);
      node = next;
    }
    if (levels[levels.length - 1] !== '#' && node.subs) {
      if (node.subs.delete(ws)) this.patternSubs--;
      if (node.subs.size === 0) node.subs = null;
    }
    for (let i = path.length - 1; i >= 0; i--) {
      const [parent, l, child] = path[i];
      if (child.subs || child.hash || child.plus || child.children.size) break;
      if (l === '+') parent.plus = null;
      else parent.children.delete(l);
    }
  }

  // The connections subscribed to topic, each once: the exact Set itself
  // when no pattern can add to it (no copy), else a new Set.
  match(topic) {
    const exact = this.exact.get(topic);
    if (this.patternSubs === 0) return exact;
    const out = new Set(exact);
    const levels = topic.split('/');
    const walk = (node, i) => {
      // `#` and `+` as the first level do not match `$` topics
      const skipWild = i === 0 && topic.charCodeAt(0) === 36;
      if (node.hash && !skipWild) for (const ws of node.hash) out.add(ws);
      if (i === levels.length) {
        if (node.subs) for (const ws of node.subs) out.add(ws);
        return;
      }
      const child = node.children.get(levels[i]);
      if (child) walk(child, i + 1);
      if (node.plus && !skipWild) walk(node.plus, i + 1);
    };
    walk(this.root, 0);
    return out;
  }
}

// ---------------------------------------------------------------------
// The hub

const index = new TopicIndex();
const seqs = new Map(); // topic -> last seq
let nextAnon = 1;
let nextSession = 1;

function send(ws, data) {
  if (ws.readyState !== WebSocket.OPEN) return;
  if (ws.bufferedAmount + data.length > QUEUE_BYTES) {
    ws.close(4008, 'slow consumer');
    return;
  }
  ws.send(data, { binary: false });
}

function reply(ws, obj) {
  send(ws, JSON.stringify(obj));
}

function sendError(ws, id, code, message) {
  reply(ws, { op: 'error', id: id === undefined ? null : id, code, message });
}

function cmdHello(ws, cmd) {
  if (ws.helloDone) {
    return sendError(ws, cmd.id, 'bad_request', 'hello was already sent');
  }
  if (cmd.name !== undefined) {
    if (typeof cmd.name !== 'string') {
      return sendError(ws, cmd.id, 'bad_request', 'name must be a string');
    }
    const n = Buffer.byteLength(cmd.name);
    if (n < 1 || n > 64) {
      return sendError(ws, cmd.id, 'bad_request', 'name must be 1-64 bytes');
    }
    ws.user = cmd.name;
  }
  ws.helloDone = true;
  if (cmd.id !== undefined) {
    reply(ws, { op: 'ok', id: cmd.id, session: ws.session, user: ws.user,
      server: SERVER_NAME, protocol: 1 });
  }
}

function cmdSub(ws, cmd) {
  const why = checkTopic(cmd.topic, true);
  if (why) return sendError(ws, cmd.id, 'invalid_topic', why);
  if (!ws.subs.has(cmd.topic)) {
    if (ws.subs.size >= MAX_SUBS) {
      return sendError(ws, cmd.id, 'overloaded', 'too many subscriptions');
    }
    ws.subs.add(cmd.topic);
    index.add(cmd.topic, ws);
  }
  if (cmd.id === undefined) return;
  if (isPattern(cmd.topic)) reply(ws, { op: 'ok', id: cmd.id, topic: cmd.topic });
  else {
    reply(ws, { op: 'ok', id: cmd.id, topic: cmd.topic,
      seq: seqs.get(cmd.topic) || 0 });
  }
}

function cmdUnsub(ws, cmd) {
  const why = checkTopic(cmd.topic, true);
  if (why) return sendError(ws, cmd.id, 'invalid_topic', why);
  if (ws.subs.delete(cmd.topic)) index.remove(cmd.topic, ws);
  if (cmd.id !== undefined) reply(ws, { op: 'ok', id: cmd.id });
}

function cmdPub(ws, cmd) {
  const why = checkTopic(cmd.topic, false);
  if (why) return sendError(ws, cmd.id, 'invalid_topic', why);
  if (cmd.topic.charCodeAt(0) === 36) {
    return sendError(ws, cmd.id, 'forbidden', 'reserved topic');
  }
  if (!('data' in cmd)) {
    return sendError(ws, cmd.id, 'bad_request', "field 'data' is required");
  }
  const seq = (seqs.get(cmd.topic) || 0) + 1;
  seqs.set(cmd.topic, seq);
  const targets = index.match(cmd.topic);
  if (targets && targets.size > 0) {
    // Encode once; every subscriber gets the same bytes.
    const frame = Buffer.from(JSON.stringify({ op: 'msg', topic: cmd.topic,
      seq, ts: Date.now(), from: ws.user, data: cmd.data }));
    for (const sub of targets) send(sub, frame);
  }
  if (cmd.id !== undefined) {
    reply(ws, { op: 'ok', id: cmd.id, topic: cmd.topic, seq });
  }
}

function onMessage(ws, data, isBinary) {
  if (isBinary) {
    return sendError(ws, null, 'bad_request', 'binary frames are not accepted');
  }
  let cmd;
  try {
    cmd = JSON.parse(data.toString());
  } catch (e) {
    return sendError(ws, null, 'bad_json', 'not JSON');
  }
  if (cmd === null || typeof cmd !== 'object' || Array.isArray(cmd) ||
      typeof cmd.op !== 'string') {
    return sendError(ws, null, 'bad_request', 'expected an object with op');
  }
  if (cmd.id !== undefined &&
      !(Number.isSafeInteger(cmd.id) && cmd.id >= 1)) {
    return sendError(ws, null, 'bad_request', 'id must be 1 to 2^53-1');
  }
  switch (cmd.op) {
    case 'hello': return cmdHello(ws, cmd);
    case 'sub': return cmdSub(ws, cmd);
    case 'unsub': return cmdUnsub(ws, cmd);
    case 'pub': return cmdPub(ws, cmd);
    case 'ping':
      if (cmd.id !== undefined) reply(ws, { op: 'ok', id: cmd.id });
      return undefined;
    default:
      return sendError(ws, cmd.id, 'unknown_op',
        `op ${cmd.op} is not supported by the baseline`);
  }
}

// ---------------------------------------------------------------------
// HTTP and WebSocket server

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  });
  const wss = new WebSocketServer({
    server,
    path: '/ws',
    maxPayload: MAX_MESSAGE,
    perMessageDeflate: false,
    handleProtocols: (protocols) =>
      (protocols.has('parley.v1') ? 'parley.v1' : false),
  });

  wss.on('connection', (ws) => {
    ws.user = `anon-${nextAnon++}`;
    ws.session = `s${nextSession++}`;
    ws.subs = new Set();
    ws.helloDone = false;
    ws.on('message', (data, isBinary) => onMessage(ws, data, isBinary));
    ws.on('close', () => {
      for (const t of ws.subs) index.remove(t, ws);
      ws.subs.clear();
    });
    ws.on('error', () => {}); // the socket is closed; 'close' follows
  });

  server.listen(opts.port, opts.bind, 1024, () => {
    const { port } = server.address();
    process.stderr.write(
      `listening on http://${opts.bind}:${port} (WebSocket path /ws)\n`);
  });

  const stop = () => {
    for (const ws of wss.clients) ws.close(1001, 'server shutting down');
    wss.close();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
