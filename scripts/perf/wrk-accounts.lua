-- wrk script of scripts/perf-phases: GET /accounts/{id} at ids drawn at random. The argument
-- after -- is either a file with one id a line, or FORMAT:N (say acc-%07d:1000000) for the ids
-- FORMAT gives to 1..N, which costs no start-up time (reading a million lines takes seconds,
-- and the first seconds after READY are what is measured).
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

local ids, format, count = {}, nil, 0

function init(args)
  local fmt, n = string.match(args[1], "^(.*%%0?%d*d.*):(%d+)$")
  if fmt then
    format, count = fmt, tonumber(n)
  else
    for line in io.lines(args[1]) do
      if #line > 0 then ids[#ids + 1] = line end
    end
    count = #ids
  end
  if count == 0 then error("no ids in " .. args[1]) end
  math.randomseed(7919 * (thread_number or 1)) -- a fixed, different sequence per thread
end

function request()
  local i = math.random(count)
  return wrk.format("GET", "/accounts/" .. (format and string.format(format, i) or ids[i]))
end
