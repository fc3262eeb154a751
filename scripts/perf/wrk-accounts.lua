-- wrk script of scripts/perf-phases: GET /accounts/{id}, ids drawn at random from a file
-- with one id a line (the first argument after --).
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

local ids = {}

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then ids[#ids + 1] = line end
  end
  if #ids == 0 then error("no ids in " .. args[1]) end
  math.randomseed(7919 * (thread_number or 1)) -- a fixed, different sequence per thread
end

function request()
  return wrk.format("GET", "/accounts/" .. ids[math.random(#ids)])
end
