-- Send absolute-form requests, as HTTP clients do through a forward proxy.
-- The target comes from the UPSTREAM environment variable (host:port).
local upstream = os.getenv("UPSTREAM") or "127.0.0.1:18081"
wrk.path = "http://" .. upstream .. "/"
wrk.headers["Host"] = upstream
