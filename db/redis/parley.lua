#!lua name=parley
--[[
parley.lua: Parley's Redis Function library (FUNCTION LOAD REPLACE on every
connect, FCALL to run). Each function is one atomic step of the cluster's
contract, so no node ever sees half of a publish, and a publish costs one
round trip. Keys arrive in KEYS, named by redis_layout.c; only the
dead-node reaper rebuilds topic keys itself, from the node's presence hash,
exactly as redis_layout.c writes them: pl:<len>:{<topic>}:<kind>.

Payload text (see redis_layout.h):
    m <seq> <ts> <retain 0|1> <epoch> <fromlen> <from><data>
    c <seq> <ts> <retain 0|1> <epoch> <edit_of> <redacts> <reply_to>
      <redacted 0|1> <fromlen> <from><data>      (chat, #16; one line)
    j <user> / l <user>
    k <n> <epoch> <node> <seq> <userlen> <user><topic>  (on pl:marked; n
      numbers the cluster's marker moves, kept in pl:marked:log so a node
      that was deaf reads back what it missed)
A message with no chat relation keeps the `m` form, byte for byte.
Numbers are formatted with %d: Lua 5.1 would print large numbers with an
exponent.
]]

local function now_ms()
    local t = redis.call('TIME')
    return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The topic's epoch; a missing one is set to the caller's fresh candidate.
-- A topic whose epoch changed was lost by Redis (restarted empty): its seq
-- starts over, and nodes must not present old positions as recoverable.
local function epoch_of(key, candidate)
    local e = redis.call('GET', key)
    if not e then
        if candidate == nil or candidate == '' then
            return ''
        end
        redis.call('SET', key, candidate)
        e = candidate
    end
    return e
end

local function entry_seq(id)
    return tonumber(string.match(id, '^(%d+)'))
end

-- Drop history older than min_ts (ms), at most one batch per publish so
-- one call stays short; the ids are seqs, so time needs the t field.
-- Returns whether the whole batch was old (more may be), and how many
-- entries it read (the sweep's budget).
local AGE_BATCH = 64
local function trim_age(log, min_ts)
    if min_ts <= 0 then
        return false, 0
    end
    local rows = redis.call('XRANGE', log, '-', '+', 'COUNT', AGE_BATCH)
    local cut = nil
    for _, e in ipairs(rows) do
        if tonumber(e[2][2]) >= min_ts then
            cut = e[1]
            break
        end
    end
    local all_old = cut == nil
    if all_old and #rows > 0 then
        cut = string.format('%d', entry_seq(rows[#rows][1]) + 1) .. '-0'
    end
    if cut ~= nil then
        redis.call('XTRIM', log, 'MINID', cut)
    end
    return all_old and #rows == AGE_BATCH, #rows
end

-- A stored payload's head: its fields as strings, and where its data
-- starts (p:sub(h.data_at) is the data). nil when it is not a message.
local function parse(p)
    local h = {}
    local e, flen
    local tag = string.sub(p, 1, 1)
    if tag == 'r' then
        -- r<rawlen> <raw>: the exact MQTT payload in front (#14); the
        -- message's fields follow it.
        local _, re, rlen = string.find(p, '^r(%d+) ')
        if re == nil then
            return nil
        end
        local skip = re + tonumber(rlen)
        h = parse(string.sub(p, skip + 1))
        if h ~= nil then
            h.data_at = h.data_at + skip
        end
        return h
    elseif tag == 'm' then
        local s
        s, e, h.seq, h.ts, h.retain, h.epoch, flen =
            string.find(p, '^m (%d+) (%d+) ([01]) (%S+) (%d+) ')
        if s == nil then
            return nil
        end
        h.edit_of, h.redacts, h.reply_to, h.redacted = '0', '0', '0', '0'
    elseif tag == 'c' then
        local s
        s, e, h.seq, h.ts, h.retain, h.epoch, h.edit_of, h.redacts,
            h.reply_to, h.redacted, flen = string.find(p,
            '^c (%d+) (%d+) ([01]) (%S+) (%d+) (%d+) (%d+) ([01]) (%d+) ')
        if s == nil then
            return nil
        end
    else
        return nil
    end
    flen = tonumber(flen)
    h.from = string.sub(p, e + 1, e + flen)
    h.data_at = e + flen + 1
    return h
end

-- A payload from its fields (strings); `m` unless a chat relation is set.
local function payload_of(seq, ts, flag, epoch, edit_of, redacts, reply_to,
                          redacted, from, data)
    local head
    if edit_of == '0' and redacts == '0' and reply_to == '0' and
        redacted == '0' then
        head = 'm ' .. seq .. ' ' .. ts .. ' ' .. flag .. ' ' .. epoch .. ' '
    else
        head = 'c ' .. seq .. ' ' .. ts .. ' ' .. flag .. ' ' .. epoch .. ' ' ..
            edit_of .. ' ' .. redacts .. ' ' .. reply_to .. ' ' .. redacted ..
            ' '
    end
    return head .. string.format('%d', #from) .. ' ' .. from .. data
end

-- The stream entry of seq s, or nil (never stored, trimmed, or deleted).
local function entry_at(log, s)
    local e = redis.call('XRANGE', log, s .. '-0', s .. '-0')
    if #e == 0 then
        return nil
    end
    return e[1][2][4]
end

-- May `from` edit or delete seq s? 0 yes, 1 bad_request (not stored, or
-- an edit, a deletion, or deleted), 2 forbidden (someone else's).
local function check_target(log, s, from)
    local p = entry_at(log, s)
    local h = p and parse(p)
    if h == nil or h.edit_of ~= '0' or h.redacts ~= '0' or
        h.redacted ~= '0' then
        return 1
    end
    if h.from ~= from then
        return 2
    end
    return 0
end

-- Erase seq s's data: its entry leaves the stream, and a stub with the
-- same seq, ts, author and relations, data null and redacted 1, takes its
-- place in the red zset (scored by seq), which the reads merge back in.
local function erase(log, red, s)
    local p = entry_at(log, s)
    local h = p and parse(p)
    if h == nil then
        return
    end
    redis.call('ZADD', red, s,
               payload_of(h.seq, h.ts, '0', h.epoch, h.edit_of, h.redacts,
                          h.reply_to, '1', h.from, 'null'))
    redis.call('XDEL', log, s .. '-0')
end

-- A deletion of seq s was stored: erase s and its edits, forget the
-- edits, and drop the retained message if it is s.
local function redact(log, red, edits, ret, s)
    erase(log, red, s)
    for _, e in ipairs(redis.call('ZRANGEBYSCORE', edits, s, s)) do
        erase(log, red, e)
    end
    redis.call('ZREMRANGEBYSCORE', edits, s, s)
    local r = redis.call('GET', ret)
    local rh = r and parse(r)
    if rh and rh.seq == s then
        redis.call('DEL', ret)
    end
end

-- Trim the chat keys as the stream was trimmed: by count (seqs at or
-- below seq - maxlen are gone), by age (stubs older than min_ts; edits of
-- targets no longer in the stream).
local function trim_chat(log, red, edits, seq, maxlen, min_ts)
    local count_trim = maxlen > 0 and seq > maxlen
    -- A topic that never had an edit or a deletion (most) pays one EXISTS,
    -- and only once its history is bounded.
    if (not count_trim and min_ts <= 0) or
        redis.call('EXISTS', red, edits) == 0 then
        return
    end
    if count_trim then
        local cut = string.format('%d', seq - maxlen)
        redis.call('ZREMRANGEBYSCORE', red, '-inf', cut)
        redis.call('ZREMRANGEBYSCORE', edits, '-inf', cut)
    end
    if min_ts <= 0 then
        return
    end
    for _, p in ipairs(redis.call('ZRANGE', red, 0, 63)) do
        local h = parse(p)
        if h ~= nil and tonumber(h.ts) >= min_ts then
            break
        end
        redis.call('ZREM', red, p)
    end
    local head = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)
    if #head > 0 then
        redis.call('ZREMRANGEBYSCORE', edits, '-inf',
                   '(' .. string.format('%d', entry_seq(head[1][1])))
    else
        -- Every target left the stream (only the sweep gets here: a
        -- publish has just appended).
        redis.call('DEL', edits)
    end
end

--[[
pl_publish: KEYS seq, log, ret, epoch [, idem], or (chat, #16) seq, log,
ret, epoch, red, edits, topics [, idem].
ARGV channel, ts, from, data, retain (0 no, 1 set, 2 clear), maxlen (0: no
bound), epoch candidate, dedupe window (s), min_ts (0: no age bound), and
with the chat keys: edit_of, redacts, reply_to (0: none), topic, and the
exact MQTT payload ("" when none: redis_layout.h, the `r` prefix), and
optionally an MQTT QoS 2 packet id and its TTL in ms (#14): then the last
key is the publishing session's q2 hash, and a packet id it holds makes
the publish a duplicate of that seq (a retry, maybe after a crash or on
another node), until PUBREL deletes it; else the id is kept with the seq.
Returns {seq, duplicate 0|1, epoch}, or {0, 1|2, epoch} when an edit or a
deletion may not be stored (1 bad_request, 2 forbidden: check_target).
The order is the contract's: check the target, check the key, take the
seq, append, erase what a deletion deletes, retained, PUBLISH, remember
the key. Stream history keeps the newest maxlen seqs (MINID, so a
deleted entry's stub counts as one).
]]
local function publish(keys, args)
    local nk = #keys
    local q2, q2_id = nil, args[15]
    if q2_id ~= nil and q2_id ~= '' then
        q2 = keys[nk]
        nk = nk - 1
    end
    local chat = nk >= 7
    local idem = nil
    if nk == 5 or nk == 8 then
        idem = keys[nk]
    end
    local epoch = epoch_of(keys[4], args[7])
    local edit_of, redacts, reply_to = '0', '0', '0'
    if chat then
        edit_of, redacts, reply_to = args[10], args[11], args[12]
    end
    local target = nil
    if edit_of ~= '0' then
        target = edit_of
    elseif redacts ~= '0' then
        target = redacts
    end
    if target ~= nil then
        local refused = check_target(keys[2], target, args[3])
        if refused ~= 0 then
            return {0, refused, epoch}
        end
    end
    if idem then
        local seen = redis.call('GET', idem)
        if seen then
            return {tonumber(seen), 1, epoch}
        end
    end
    if q2 then
        local seen = redis.call('HGET', q2, q2_id)
        if seen then
            return {tonumber(seen), 1, epoch}
        end
    end
    local seq = redis.call('INCR', keys[1])
    local s = string.format('%d', seq)
    local retain = args[5]
    local flag = '0'
    if retain ~= '0' then
        flag = '1'
    end
    local payload = payload_of(s, args[2], flag, epoch, edit_of, redacts,
                               reply_to, '0', args[3], args[4])
    local raw = args[14]
    if raw ~= nil and #raw > 0 then
        payload = 'r' .. string.format('%d', #raw) .. ' ' .. raw .. payload
    end
    local maxlen = tonumber(args[6])
    if maxlen > 0 and seq > maxlen then
        redis.call('XADD', keys[2], 'MINID',
                   string.format('%d', seq - maxlen + 1) .. '-0', s .. '-0',
                   't', args[2], 'm', payload)
    else
        redis.call('XADD', keys[2], s .. '-0', 't', args[2], 'm', payload)
    end
    trim_age(keys[2], tonumber(args[9]))
    if chat then
        if edit_of ~= '0' then
            redis.call('ZADD', keys[6], edit_of, s)
        end
        if redacts ~= '0' then
            redact(keys[2], keys[5], keys[6], keys[3], redacts)
        end
        trim_chat(keys[2], keys[5], keys[6], seq, maxlen, tonumber(args[9]))
        -- The registry learns a topic with its first message (a Redis that
        -- lost its data starts both over together).
        if seq == 1 then
            redis.call('ZADD', keys[7], 0, args[13])
        end
    end
    if retain == '1' then
        redis.call('SET', keys[3], payload)
    elseif retain == '2' then
        redis.call('DEL', keys[3])
    end
    redis.call('PUBLISH', args[1], payload)
    if idem then
        redis.call('SET', idem, s, 'EX', args[8])
    end
    if q2 then
        redis.call('HSET', q2, q2_id, s)
        if tonumber(args[16]) > 0 then
            redis.call('PEXPIRE', q2, args[16])
        end
    end
    return {seq, 0, epoch}
end

--[[
pl_sweep_age: KEYS topics, cursor; ARGV min_ts, topics, budget.
The age bound for topics nobody publishes to: the next `topics` names of
the registry after the shared cursor, each trimmed as pl_publish trims
(trim_age, then trim_chat's stubs and edits), reading at most about
`budget` stream entries in all, so one call stays short. A topic with
more old entries than the budget keeps the cursor before it, to go on
next call. The cursor lives in Redis, so nodes that call this share one
walk (each call takes the next slice) instead of each redoing it.
Returns {topics done, 1 when the walk wrapped to the start}.
]]
local function sweep_age(keys, args)
    local min_ts = tonumber(args[1])
    local want = tonumber(args[2])
    local budget = tonumber(args[3])
    local after = redis.call('GET', keys[2])
    local lo = '-'
    if after then
        lo = '(' .. after
    end
    local names = redis.call('ZRANGEBYLEX', keys[1], lo, '+', 'LIMIT', 0, want)
    local done = 0
    for _, t in ipairs(names) do
        -- The key names as redis_layout.c writes them (see forget_node).
        local base = 'pl:' .. string.format('%d', #t) .. ':{' .. t .. '}:'
        local log = base .. 'log'
        -- Most topics hold nothing old: one entry read says so (trim_age
        -- would cut at this head, that is nothing).
        local head = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)
        local more = #head > 0 and tonumber(head[1][2][2]) < min_ts
        local seen
        budget = budget - 1
        while more and budget > 0 do
            more, seen = trim_age(log, min_ts)
            budget = budget - seen
        end
        if more then
            break -- the budget ran out first: this topic again next call
        end
        trim_chat(log, base .. 'red', base .. 'edits', 0, 0, min_ts)
        after = t
        done = done + 1
        if budget <= 0 then
            break
        end
    end
    if done == #names and #names < want then
        redis.call('DEL', keys[2])
        return {done, 1}
    end
    if after then
        redis.call('SET', keys[2], after)
    end
    return {done, 0}
end

--[[
pl_backfill: KEYS topics, cursor; ARGV count.
The registry learns a topic with its first message, so topics first
published by a release before the registry existed are not in it, and
the age sweep, unread, topic lists and pattern subs would miss them. One
SCAN step (COUNT count) over the topics' seq keys, adding each topic
named by one to the registry; the SCAN cursor lives in `cursor`, shared
by all nodes (each call takes the next step; ZADD is idempotent), and is
set to 'done' when the walk is over, after which a call does nothing. A
key is a topic's only when it parses exactly as redis_layout.c writes it:
pl:<n>:{<topic of n bytes>}:seq (pl:marked:seq and the like do not).
Returns {keys looked at, names added, 1 when the walk is over}.
]]
local function backfill(keys, args)
    local cur = redis.call('GET', keys[2])
    if cur == 'done' then
        return {0, 0, 1}
    end
    local r = redis.call('SCAN', cur or '0', 'MATCH', 'pl:*:seq',
                         'COUNT', args[1])
    local added = 0
    for _, k in ipairs(r[2]) do
        local n = string.match(k, '^pl:(%d+):{')
        if n then
            local len = tonumber(n)
            local start = #n + 6
            local t = string.sub(k, start, start + len - 1)
            if #t == len and string.sub(k, start + len) == '}:seq' then
                added = added + redis.call('ZADD', keys[1], 'NX', 0, t)
            end
        end
    end
    if r[1] == '0' then
        redis.call('SET', keys[2], 'done')
        return {#r[2], added, 1}
    end
    redis.call('SET', keys[2], r[1])
    return {#r[2], added, 0}
end

local function meta(seq_key, epoch_key)
    local last = tonumber(redis.call('GET', seq_key) or '0')
    local epoch = redis.call('GET', epoch_key) or ''
    return last, epoch
end

-- The entries' payloads and the stubs' (ZRANGEBYSCORE ... WITHSCORES
-- pairs), merged by seq in the order both come (asc or not), at most
-- limit. Returns the list.
local function merge(rows, stubs, limit, asc)
    local out = {}
    local i, j = 1, 1
    while #out < limit and (i <= #rows or j < #stubs) do
        local take_row = j >= #stubs
        if i <= #rows and j < #stubs then
            local a = entry_seq(rows[i][1])
            local b = tonumber(stubs[j + 1])
            take_row = (asc and a < b) or (not asc and a > b)
        end
        if take_row then
            out[#out + 1] = rows[i][2][4]
            i = i + 1
        else
            out[#out + 1] = stubs[j]
            j = j + 2
        end
    end
    return out
end

--[[
pl_since: KEYS seq, log, epoch [, red]; ARGV since, limit.
Returns {latest seq, epoch, oldest stored seq (0: none), payload...}: the
stored messages with seq > since, oldest first, at most limit; with red,
deleted messages come back as their stubs, in place. All read at one
instant, so "is since still covered" and the rows agree.
]]
local function since(keys, args)
    local last, epoch = meta(keys[1], keys[3])
    local red = keys[4]
    local limit = tonumber(args[2])
    local first = 0
    local head = redis.call('XRANGE', keys[2], '-', '+', 'COUNT', 1)
    if #head > 0 then
        first = entry_seq(head[1][1])
    end
    local stubs = {}
    if red then
        local h = redis.call('ZRANGE', red, 0, 0, 'WITHSCORES')
        if #h > 0 and (first == 0 or tonumber(h[2]) < first) then
            first = tonumber(h[2])
        end
        stubs = redis.call('ZRANGEBYSCORE', red, '(' .. args[1], '+inf',
                           'WITHSCORES', 'LIMIT', 0, limit)
    end
    local out = {last, epoch, first}
    local from = string.format('%d', tonumber(args[1]) + 1) .. '-0'
    local rows = redis.call('XRANGE', keys[2], from, '+', 'COUNT', limit)
    for _, p in ipairs(merge(rows, stubs, limit, true)) do
        out[#out + 1] = p
    end
    return out
end

--[[
pl_history: KEYS seq, log, epoch [, red]; ARGV before ('' for none), limit.
Returns {latest seq, epoch, payload...}: the newest limit messages with
seq < before, oldest first (stubs in place, as pl_since).
]]
local function history(keys, args)
    local last, epoch = meta(keys[1], keys[3])
    local red = keys[4]
    local limit = tonumber(args[2])
    local out = {last, epoch}
    local hi = '+'
    local shi = '+inf'
    if args[1] ~= '' then
        local before = tonumber(args[1])
        if before <= 1 then
            return out
        end
        hi = string.format('%d', before - 1) .. '-0'
        shi = '(' .. args[1]
    end
    local rows = redis.call('XREVRANGE', keys[2], hi, '-', 'COUNT', limit)
    local stubs = {}
    if red then
        stubs = redis.call('ZREVRANGEBYSCORE', red, shi, '-inf', 'WITHSCORES',
                           'LIMIT', 0, limit)
    end
    local newest = merge(rows, stubs, limit, false)
    for i = #newest, 1, -1 do
        out[#out + 1] = newest[i]
    end
    return out
end

-- pl_retained: KEYS seq, ret, epoch. Returns {latest seq, epoch, payload or
-- ''}.
local function retained(keys, args)
    local last, epoch = meta(keys[1], keys[3])
    return {last, epoch, redis.call('GET', keys[2]) or ''}
end

--[[
pl_mark: KEYS seq, marks [, marked seq, marked log, marked epoch]; ARGV
user, seq wanted, node id, channel, topic.
Moves user's read marker up to min(wanted, latest), never back; when it
moved, publishes `k <n> <epoch> <node> <marker> <userlen> <user><topic>`
on channel so every node tells the user's connections, after appending it
to the marked log as entry <n>-0 (the newest MARKED_LOG_MAX kept; without
those keys, n is 0 and nothing is kept). Returns {marker, moved 0|1,
latest}; latest 0 means nothing is stored (the caller's bad_request).
]]
local MARKED_LOG_MAX = '10000'
local function mark(keys, args)
    local latest = tonumber(redis.call('GET', keys[1]) or '0')
    local user = args[1]
    if latest == 0 then
        return {0, 0, 0}
    end
    local want = tonumber(args[2])
    if want > latest then
        want = latest
    end
    local old = tonumber(redis.call('HGET', keys[2], user) or '0')
    if want <= old then
        return {old, 0, latest}
    end
    local m = string.format('%d', want)
    redis.call('HSET', keys[2], user, m)
    local tail = args[3] .. ' ' .. m .. ' ' .. string.format('%d', #user) ..
                 ' ' .. user .. args[5]
    if #keys < 5 then
        redis.call('PUBLISH', args[4], 'k 0 - ' .. tail)
        return {want, 1, latest}
    end
    -- The move is numbered and kept (a bounded log), so that a node whose
    -- pub/sub connection was down reads back the moves it did not hear
    -- (pl_since over these keys), as it fills a topic's gap.
    local t = redis.call('TIME')
    local epoch = epoch_of(keys[5], t[1] .. t[2])
    local n = string.format('%d', redis.call('INCR', keys[3]))
    local payload = 'k ' .. n .. ' ' .. epoch .. ' ' .. tail
    redis.call('XADD', keys[4], 'MAXLEN', '~', MARKED_LOG_MAX, n .. '-0',
               't', string.format('%d', now_ms()), 'm', payload)
    redis.call('PUBLISH', args[4], payload)
    return {want, 1, latest}
end

--[[
pl_unread: KEYS seq, log, marks of each topic in turn; ARGV user, max,
budget. Returns {latest, marked, unread, more 0|1} per topic: unread counts
the entries after the marker that others wrote, neither edits nor
deletions (deleted ones left the stream), up to max, looking at no more
than budget entries.
]]
local function unread(keys, args)
    local user = args[1]
    local max = tonumber(args[2])
    local budget = tonumber(args[3])
    local out = {}
    for i = 1, #keys - 2, 3 do
        local latest = tonumber(redis.call('GET', keys[i]) or '0')
        local marked = tonumber(redis.call('HGET', keys[i + 2], user) or '0')
        local n, more = 0, 0
        if marked < latest then
            local rows = redis.call('XRANGE', keys[i + 1],
                                    string.format('%d', marked + 1) .. '-0',
                                    '+', 'COUNT', budget)
            for _, e in ipairs(rows) do
                local h = parse(e[2][4])
                if h ~= nil and h.from ~= user and h.edit_of == '0' and
                    h.redacts == '0' then
                    n = n + 1
                    if n >= max then
                        more = 1
                        break
                    end
                end
            end
            if more == 0 and #rows >= budget and
                entry_seq(rows[#rows][1]) < latest then
                more = 1
            end
        end
        out[#out + 1] = latest
        out[#out + 1] = marked
        out[#out + 1] = n
        out[#out + 1] = more
    end
    return out
end

-- pl_topic_info: KEYS seq, ret, pres of each topic in turn. Returns
-- {latest seq, retained 0|1, members} per topic (the topics op).
local function topic_info(keys, args)
    local out = {}
    for i = 1, #keys - 2, 3 do
        out[#out + 1] = tonumber(redis.call('GET', keys[i]) or '0')
        out[#out + 1] = redis.call('EXISTS', keys[i + 1])
        out[#out + 1] = redis.call('HLEN', keys[i + 2])
    end
    return out
end

--[[
pl_pres_join: KEYS topic pres, node pres; ARGV field, user, channel.
The node holds (topic, user) once; the user joins the topic when the first
node holds it, and only then is `j <user>` published. Returns 1 on a join.
]]
local function pres_join(keys, args)
    if redis.call('HSETNX', keys[2], args[1], '1') == 0 then
        return 0
    end
    if redis.call('HINCRBY', keys[1], args[2], 1) == 1 then
        redis.call('PUBLISH', args[3], 'j ' .. args[2])
        return 1
    end
    return 0
end

local function drop_member(pres_key, channel, user)
    if redis.call('HINCRBY', pres_key, user, -1) <= 0 then
        redis.call('HDEL', pres_key, user)
        redis.call('PUBLISH', channel, 'l ' .. user)
        return 1
    end
    return 0
end

-- pl_pres_leave: as pl_pres_join; `l <user>` when the last node let go.
local function pres_leave(keys, args)
    if redis.call('HDEL', keys[2], args[1]) == 0 then
        return 0
    end
    return drop_member(keys[1], args[3], args[2])
end

-- pl_pres_members: KEYS topic pres. The users present on any node.
local function pres_members(keys, args)
    return redis.call('HKEYS', keys[1])
end

--[[
pl_node_beat: KEYS nodes, heartbeat; ARGV node id, ttl (ms), info.
Redis's clock scores the heartbeat, so nodes' clocks need not agree.
Returns how many nodes are alive.
]]
local function node_beat(keys, args)
    local now = now_ms()
    redis.call('ZADD', keys[1], now + tonumber(args[2]), args[1])
    redis.call('SET', keys[2], args[3], 'PX', args[2])
    return redis.call('ZCOUNT', keys[1], now, '+inf')
end

-- Remove node id and its members; a member that no other node holds gets
-- its leave published, once, because this runs atomically.
local function forget_node(nodes, id)
    local pk = 'pl:node:' .. id .. ':pres'
    local fields = redis.call('HKEYS', pk)
    for _, f in ipairs(fields) do
        local n, rest = string.match(f, '^(%d+):(.*)$')
        if n then
            n = tonumber(n)
            local topic = string.sub(rest, 1, n)
            local user = string.sub(rest, n + 1)
            drop_member('pl:' .. string.format('%d', n) .. ':{' .. topic ..
                        '}:pres', 'pl:ch:' .. topic, user)
        end
    end
    redis.call('DEL', pk, 'pl:node:' .. id)
    redis.call('ZREM', nodes, id)
end

--[[
pl_node_reap: KEYS nodes; ARGV limit. Forgets up to limit nodes whose
heartbeat expired. Any node may call it; each dead node is forgotten once.
Returns the ids forgotten.
]]
local function node_reap(keys, args)
    local dead = redis.call('ZRANGEBYSCORE', keys[1], '-inf',
                            '(' .. string.format('%d', now_ms()),
                            'LIMIT', 0, tonumber(args[1]))
    for _, id in ipairs(dead) do
        forget_node(keys[1], id)
    end
    return dead
end

-- pl_node_leave: KEYS nodes; ARGV node id. A draining node forgets itself
-- at once instead of waiting for its heartbeat to expire.
local function node_leave(keys, args)
    forget_node(keys[1], args[1])
    return 1
end

--[[
MQTT persistent sessions (clean session 0, #14), one per client id C, its
keys named by redis_layout.c: pl:mq:<n>:{C}:sess (hash: user, last_seen,
lease: the packet-id lease, mqtt_inflight.h),
:subs (hash: filter -> granted QoS), :cur (hash: topic -> the seq the
client has), :q2 (hash: inbound QoS 2 packet id -> seq, until PUBREL).

pl_msess_write: KEYS sess, subs, cur, q2; ARGV drop 0|1, user, last_seen,
ttl (ms, 0: none), lease ('': unchanged), set_subs 0|1, nsubs, then nsubs
(filter, qos) pairs, then (topic, seq) pairs. drop deletes the session.
Otherwise one session change batch: the user and last_seen, the lease
moved up (never back), the filters replaced when set_subs,
and each cursor moved up to its seq, never back (two nodes may write the
same session for a moment, at a takeover: the higher cursor wins). Every
key then lives ttl more (--mqtt-session-expiry). Returns 1.
]]
local function msess_write(keys, args)
    if args[1] == '1' then
        redis.call('DEL', keys[1], keys[2], keys[3], keys[4])
        return 1
    end
    redis.call('HSET', keys[1], 'user', args[2], 'last_seen', args[3])
    if args[5] ~= '' then
        local old = redis.call('HGET', keys[1], 'lease')
        if not old or tonumber(args[5]) > tonumber(old) then
            redis.call('HSET', keys[1], 'lease', args[5])
        end
    end
    local nsubs = tonumber(args[7])
    local i = 8
    if args[6] == '1' then
        redis.call('DEL', keys[2])
        for _ = 1, nsubs do
            redis.call('HSET', keys[2], args[i], args[i + 1])
            i = i + 2
        end
    end
    while i < #args do
        local old = tonumber(redis.call('HGET', keys[3], args[i]) or '0')
        if tonumber(args[i + 1]) > old then
            redis.call('HSET', keys[3], args[i], args[i + 1])
        end
        i = i + 2
    end
    local ttl = tonumber(args[4])
    if ttl > 0 then
        for k = 1, 4 do
            redis.call('PEXPIRE', keys[k], ttl)
        end
    end
    return 1
end

-- pl_msess_read: KEYS sess, subs, cur. {} when there is no session, else
-- {user, last_seen, lease ('' when none), nsubs, filter, qos, ..., topic,
-- seq, ...}, all text.
local function msess_read(keys, args)
    local sess = redis.call('HMGET', keys[1], 'user', 'last_seen', 'lease')
    if not sess[2] then
        return {}
    end
    local subs = redis.call('HGETALL', keys[2])
    local out = {sess[1] or '', sess[2], sess[3] or '',
                 tostring(#subs / 2)}
    for _, v in ipairs(subs) do
        out[#out + 1] = v
    end
    for _, v in ipairs(redis.call('HGETALL', keys[3])) do
        out[#out + 1] = v
    end
    return out
end

redis.register_function('pl_publish', publish)
redis.register_function{function_name = 'pl_since', callback = since,
                        flags = {'no-writes'}}
redis.register_function{function_name = 'pl_history', callback = history,
                        flags = {'no-writes'}}
redis.register_function{function_name = 'pl_retained', callback = retained,
                        flags = {'no-writes'}}
redis.register_function('pl_mark', mark)
redis.register_function{function_name = 'pl_unread', callback = unread,
                        flags = {'no-writes'}}
redis.register_function{function_name = 'pl_topic_info',
                        callback = topic_info, flags = {'no-writes'}}
redis.register_function('pl_pres_join', pres_join)
redis.register_function('pl_pres_leave', pres_leave)
redis.register_function{function_name = 'pl_pres_members',
                        callback = pres_members, flags = {'no-writes'}}
redis.register_function('pl_node_beat', node_beat)
redis.register_function('pl_node_reap', node_reap)
redis.register_function('pl_node_leave', node_leave)
redis.register_function('pl_sweep_age', sweep_age)
redis.register_function('pl_backfill', backfill)
redis.register_function('pl_msess_write', msess_write)
redis.register_function{function_name = 'pl_msess_read', callback = msess_read,
                        flags = {'no-writes'}}
