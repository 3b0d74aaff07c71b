-- wrk script: PUT 256-byte values under distinct keys.
-- wrk -t2 -c64 -d10s -s bench/wrk/put.lua http://127.0.0.1:8080
local counter = 0
local body = string.rep("v", 256)
request = function()
  counter = counter + 1
  return wrk.format("PUT", "/api/v1/put/" .. tostring(math.random(1, 1e9)) .. "-" .. counter, nil, body)
end
