-- wrk script: GET one of the 10000 preloaded keys at random (k000000..k009999).
request = function()
  return wrk.format("GET", string.format("/api/v1/bench/k%06d", math.random(0, 9999)))
end
