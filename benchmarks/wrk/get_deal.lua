-- GET /api/v1/deals/{id} for ids drawn at random from a file of deal ids (args[1], one a line).
local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./"
dofile(here .. "report.lua")

local ids, count = {}, 0

function init(args)
   for line in io.lines(args[1]) do
      count = count + 1
      ids[count] = line
   end
   math.randomseed(1000 + (tid or 0))
end

function request()
   if count == 0 then
      -- the main state's one verification call, before any thread runs
      return wrk.format("GET", "/api/v1/deals/1")
   end
   return wrk.format("GET", "/api/v1/deals/" .. ids[math.random(count)])
end
