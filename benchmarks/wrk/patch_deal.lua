-- PATCH /api/v1/deals/{id} with {"version": V, "next_step": "..."}, never on a stale version.
--
-- args[1]: a file of "id version" lines; args[2]: the number of wrk threads. Each thread takes
-- every n-th deal, so no deal is shared between threads. A thread keeps its deals in a queue:
-- request() takes one out, response() puts it back with the version the answer carries (a 409
-- answer carries the current deal too). A deal is therefore in flight on one connection at a
-- time and no write conflicts with another; the file holds spares for answers that carry no
-- deal. Every next_step is new (thread number and counter), so every PATCH really writes.
local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./"
dofile(here .. "report.lua")

local queue, first, last = {}, 1, 0
local sent = 0
ok_2xx, non_2xx, conflicts, unparsed, starved = 0, 0, 0, 0, 0

local function push(id, version)
   last = last + 1
   queue[last] = { id, version }
end

local function pop()
   if first > last then
      return nil
   end
   local item = queue[first]
   queue[first] = nil
   first = first + 1
   return item
end

function init(args)
   local threads = tonumber(args[2]) or 1
   local index = 0
   for line in io.lines(args[1]) do
      local id, version = line:match("^(%d+)%s+(%d+)")
      if id then
         if index % threads == tid then
            push(id, version)
         end
         index = index + 1
      end
   end
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   local item = pop()
   if item == nil then
      -- every deal of this thread is in flight or lost; a stale write answers 409 with the
      -- current version, which puts a deal back into the queue
      starved = starved + 1
      item = { "1", "1" }
   end
   sent = sent + 1
   local body = string.format(
      '{"version":%s,"next_step":"bench %d-%d"}', item[2], tid or 0, sent
   )
   return wrk.format("PATCH", "/api/v1/deals/" .. item[1], nil, body)
end

function response(status, headers, body)
   if status >= 200 and status < 300 then
      ok_2xx = ok_2xx + 1
   else
      non_2xx = non_2xx + 1
      if status == 409 then
         conflicts = conflicts + 1
      end
   end
   local id = body and body:match('"id":%s*(%d+)')
   local version = body and body:match('"version":%s*(%d+)')
   if id and version then
      push(id, version)
   else
      unparsed = unparsed + 1
   end
end
