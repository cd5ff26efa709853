package breaker

import (
	"errors"
	"fmt"
)

// Replace swaps the registered breaker of cfg.Name for a new one built from
// cfg: closed, with fresh counts and window, and cumulative counters from
// zero (Prometheus sees a counter reset). Callers that hold the old
// *Breaker (chains, health checks) keep using it until they look the name
// up again. It fails for an invalid config or an unknown name (ErrNotFound).
func (r *Registry) Replace(cfg Config) (*Breaker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("breaker %q: %w", cfg.Name, err)
	}
	if r.closed.Load() {
		return nil, errors.New("breaker: registry is closed")
	}
	cfg = cfg.withDefaults()
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.byName.Load()
	prev, ok := old[cfg.Name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, cfg.Name)
	}
	b := newBreaker(r, cfg)
	m := make(map[string]*Breaker, len(old))
	for k, v := range old {
		m[k] = v
	}
	m[cfg.Name] = b
	list := append([]*Breaker(nil), *r.breakers.Load()...)
	for i := range list {
		if list[i] == prev {
			list[i] = b
		}
	}
	r.byName.Store(&m)
	r.breakers.Store(&list)
	prev.stop()
	return b, nil
}
