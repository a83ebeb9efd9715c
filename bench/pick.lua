-- wrk script: each request asks for the client document of a Host picked at
-- random from the file named by the environment variable BENCH_HOSTS (one
-- host a line), so that a run spreads over many domains instead of one hot
-- key.  done() prints one machine-readable line for bench.py.
local hosts = {}

function init(args)
	local path = os.getenv("BENCH_HOSTS")
	for line in io.lines(path) do
		hosts[#hosts + 1] = line
	end
	math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

function request()
	local h = hosts[math.random(#hosts)]
	return wrk.format("GET", "/.well-known/matrix/client", { Host = h })
end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d errors=%d status_errors=%d\n",
		summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
		e.connect + e.read + e.write + e.timeout, e.status))
end
