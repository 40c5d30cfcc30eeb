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
    j <user> / l <user>
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

-- Drop history older than min_ts (ms), at most one batch per publish so
-- one call stays short; the ids are seqs, so time needs the t field.
local function trim_age(log, min_ts)
    if min_ts <= 0 then
        return
    end
    local rows = redis.call('XRANGE', log, '-', '+', 'COUNT', 64)
    local cut = nil
    for _, e in ipairs(rows) do
        if tonumber(e[2][2]) >= min_ts then
            cut = e[1]
            break
        end
    end
    if cut == nil and #rows > 0 then
        local last = tonumber(string.match(rows[#rows][1], '^(%d+)'))
        cut = string.format('%d', last + 1) .. '-0'
    end
    if cut ~= nil then
        redis.call('XTRIM', log, 'MINID', cut)
    end
end

--[[
pl_publish: KEYS seq, log, ret, epoch [, idem]
ARGV channel, ts, from, data, retain (0 no, 1 set, 2 clear), maxlen (0: no
bound), epoch candidate, dedupe window (s), min_ts (0: no age bound).
Returns {seq, duplicate 0|1, epoch}. The order is the contract's: check the
key, take the seq, append, retained, PUBLISH, remember the key.
]]
local function publish(keys, args)
    local epoch = epoch_of(keys[4], args[7])
    if keys[5] then
        local seen = redis.call('GET', keys[5])
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
    local payload = 'm ' .. s .. ' ' .. args[2] .. ' ' .. flag .. ' ' ..
        epoch .. ' ' .. string.format('%d', #args[3]) .. ' ' .. args[3] ..
        args[4]
    local maxlen = tonumber(args[6])
    if maxlen > 0 then
        redis.call('XADD', keys[2], 'MAXLEN', maxlen, s .. '-0',
                   't', args[2], 'm', payload)
    else
        redis.call('XADD', keys[2], s .. '-0', 't', args[2], 'm', payload)
    end
    trim_age(keys[2], tonumber(args[9]))
    if retain == '1' then
        redis.call('SET', keys[3], payload)
    elseif retain == '2' then
        redis.call('DEL', keys[3])
    end
    redis.call('PUBLISH', args[1], payload)
    if keys[5] then
        redis.call('SET', keys[5], s, 'EX', args[8])
    end
    return {seq, 0, epoch}
end

local function meta(seq_key, epoch_key)
    local last = tonumber(redis.call('GET', seq_key) or '0')
    local epoch = redis.call('GET', epoch_key) or ''
    return last, epoch
end

--[[
pl_since: KEYS seq, log, epoch; ARGV since, limit.
Returns {latest seq, epoch, oldest stored seq (0: none), payload...}: the
stored messages with seq > since, oldest first, at most limit. All read at
one instant, so "is since still covered" and the rows agree.
]]
local function since(keys, args)
    local last, epoch = meta(keys[1], keys[3])
    local first = 0
    local head = redis.call('XRANGE', keys[2], '-', '+', 'COUNT', 1)
    if #head > 0 then
        first = tonumber(string.match(head[1][1], '^(%d+)'))
    end
    local out = {last, epoch, first}
    local from = string.format('%d', tonumber(args[1]) + 1) .. '-0'
    local rows = redis.call('XRANGE', keys[2], from, '+', 'COUNT',
                            tonumber(args[2]))
    for _, e in ipairs(rows) do
        out[#out + 1] = e[2][4]
    end
    return out
end

--[[
pl_history: KEYS seq, log, epoch; ARGV before ('' for none), limit.
Returns {latest seq, epoch, payload...}: the newest limit messages with
seq < before, oldest first.
]]
local function history(keys, args)
    local last, epoch = meta(keys[1], keys[3])
    local out = {last, epoch}
    local hi = '+'
    if args[1] ~= '' then
        local before = tonumber(args[1])
        if before <= 1 then
            return out
        end
        hi = string.format('%d', before - 1) .. '-0'
    end
    local rows = redis.call('XREVRANGE', keys[2], hi, '-', 'COUNT',
                            tonumber(args[2]))
    for i = #rows, 1, -1 do
        out[#out + 1] = rows[i][2][4]
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

redis.register_function('pl_publish', publish)
redis.register_function{function_name = 'pl_since', callback = since,
                        flags = {'no-writes'}}
redis.register_function{function_name = 'pl_history', callback = history,
                        flags = {'no-writes'}}
redis.register_function{function_name = 'pl_retained', callback = retained,
                        flags = {'no-writes'}}
redis.register_function('pl_pres_join', pres_join)
redis.register_function('pl_pres_leave', pres_leave)
redis.register_function{function_name = 'pl_pres_members',
                        callback = pres_members, flags = {'no-writes'}}
redis.register_function('pl_node_beat', node_beat)
redis.register_function('pl_node_reap', node_reap)
redis.register_function('pl_node_leave', node_leave)
