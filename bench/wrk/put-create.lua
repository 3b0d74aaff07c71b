-- PUT 256-byte values under distinct keys, create-only (If-None-Match: *).
local counter = 0
local body = string.rep("v", 256)
wrk.headers["If-None-Match"] = "*"
request = function()
  counter = counter + 1
  return wrk.format("PUT", "/api/v1/create/" .. tostring(math.random(1, 1e9)) .. "-" .. counter, nil, body)
end
