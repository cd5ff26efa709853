package exporter

// Option configures Middleware and NewTransport.
type Option func(*config)

type config struct {
	// isFailure says whether a response status counts as a failure of the
	// protected dependency. Default: every 5xx.
	isFailure func(status int) bool
}

func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.isFailure == nil { // no option, or WithFailureStatusFunc(nil)
		c.isFailure = is5xx
	}
	return c
}

func is5xx(status int) bool { return status >= 500 && status <= 599 }

// WithFailureStatus makes exactly these response statuses count as failures,
// replacing the default (every 5xx). For example
// WithFailureStatus(429, 500, 502, 503, 504) also trips on rate limiting and
// leaves 501 alone. With no codes, no status is a failure: only panics (for
// Middleware) and transport errors (for NewTransport) are.
func WithFailureStatus(codes ...int) Option {
	set := make(map[int]struct{}, len(codes))
	for _, c := range codes {
		set[c] = struct{}{}
	}
	return func(c *config) {
		c.isFailure = func(status int) bool {
			_, ok := set[status]
			return ok
		}
	}
}

// WithFailureStatusFunc makes fn decide which response statuses count as
// failures, replacing the default (every 5xx). fn must be safe for
// concurrent use. A nil fn restores the default. When both this and
// WithFailureStatus are given, the last one wins.
func WithFailureStatusFunc(fn func(status int) bool) Option {
	return func(c *config) { c.isFailure = fn }
}
