-- wrk script: Dapr state API saves of 256-byte values under distinct keys,
-- the same writes bench/wrk/put.lua makes to navius.
-- wrk -t2 -c64 -d10s -s bench/wrk/dapr-put.lua http://127.0.0.1:3500/v1.0/state/statestore
local counter = 0
local value = string.rep("v", 256)
request = function()
  counter = counter + 1
  local key = "put-" .. tostring(math.random(1, 1e9)) .. "-" .. counter
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"},
    '[{"key":"' .. key .. '","value":"' .. value .. '"}]')
end
