-- wrk script: PUT 256-byte values under k000000..k009999 in turn (to preload
-- the keys that get-random.lua reads).
-- wrk -t1 -c16 -d3s -s bench/wrk/put-keys.lua http://127.0.0.1:8080
local counter = -1
local body = string.rep("v", 256)
request = function()
  counter = (counter + 1) % 10000
  return wrk.format("PUT", string.format("/api/v1/bench/k%06d", counter), nil, body)
end
