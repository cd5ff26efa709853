// Package demo is the embedded demo that `breakerwatch serve` runs when it is
// given no configuration: simulated upstreams named like the seed's
// (openai_api, anthropic_api, gemini_api, meta_api) on loopback, a scripted
// fault schedule, and light traffic through the gateway's own routes, so
// that a newcomer sees breakers open and close within two minutes.
//
// The upstreams are HTTP servers inside the process, on 127.0.0.1 and random
// ports. They answer like a chat-completion API (JSON, or server-sent events
// when the request asks for a stream) and follow the Schedule: outages
// (every request answers 503), partial failures, latency spikes and
// recoveries. Besides a route per upstream, /chat/ falls back from
// openai_api to anthropic_api, then gemini_api, so that during openai_api's
// outage its traffic is served by a fallback; the enforce-mode upstreams have
// health checks. The schedule is a value so tests can run a short one, and the
// whole demo (schedule, traffic, breaker timeouts, route timeouts) can be
// sped up with Options.Speed.
//
// New starts the upstreams and returns the configuration to serve; Start
// begins the schedule and the traffic once the gateway listens; Close stops
// everything and waits for it.
package demo
