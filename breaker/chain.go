package breaker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Fallback chains.
//
// A chain is an ordered list of a registry's breakers: the primary, then its
// fallbacks. CallChain calls one function with each member in turn until one
// serves. The members are breakers, not chains: a chain cannot name another
// chain, so the only possible cycle is a breaker named twice, which NewChain
// refuses. Nested chains would add little (a flat list expresses any order of
// providers) and would make circuit_breaker_fallback_total ambiguous: its
// name label is the primary whose calls were served elsewhere, and with
// nesting a call would have several primaries.

// ErrChainExhausted is matched (errors.Is) by the error of a chain call in
// which every member was tried and none served.
var ErrChainExhausted = errors.New("every member of the fallback chain failed or was skipped")

// ChainConfig describes a fallback chain.
type ChainConfig struct {
	// Primary is the name of the breaker tried first. Required.
	Primary string `json:"primary"`
	// Fallbacks are the names of the breakers tried next, in order. Each
	// must be registered and appear once in the chain (counting the
	// primary). May be empty: the chain is then the primary alone.
	Fallbacks []string `json:"fallbacks"`
	// AttemptTimeout bounds each member's attempt, so that a slow member
	// leaves time for the next: its attempt fails with
	// context.DeadlineExceeded, which its breaker counts as a failure.
	// The attempt's context is canceled when the function returns, so the
	// function must be done with it (e.g. have read the response body) by
	// then. 0 (the default) means no bound beyond the caller's context.
	AttemptTimeout time.Duration `json:"attempt_timeout"`
}

// Chain is a validated fallback chain. Create it once, with Registry.NewChain
// or Registry.NewChainFromConfig, and call through it with CallChain; it is
// safe for concurrent use.
type Chain struct {
	cfg     ChainConfig
	members []*Breaker
	served  []*fallbackCounter // served[i] counts calls member i served; nil for the primary
}

// NewChain returns a chain trying the breaker named primary first, then the
// fallbacks in order. See NewChainFromConfig.
func (r *Registry) NewChain(primary string, fallbacks ...string) (*Chain, error) {
	return r.NewChainFromConfig(ChainConfig{Primary: primary, Fallbacks: fallbacks})
}

// NewChainFromConfig validates cfg and returns its chain. Every member must
// be registered in r and appear once; errors name the field (primary,
// fallbacks[i], attempt_timeout) and are joined.
func (r *Registry) NewChainFromConfig(cfg ChainConfig) (*Chain, error) {
	cfg.Fallbacks = append([]string(nil), cfg.Fallbacks...)
	var errs []error
	names := append([]string{cfg.Primary}, cfg.Fallbacks...)
	members := make([]*Breaker, len(names))
	seen := make(map[string]int, len(names))
	for i, name := range names {
		field := "primary"
		if i > 0 {
			field = fmt.Sprintf("fallbacks[%d]", i-1)
		}
		if j, dup := seen[name]; dup {
			at := "the primary"
			if j > 0 {
				at = fmt.Sprintf("fallbacks[%d]", j-1)
			}
			errs = append(errs, fmt.Errorf("%s: %q is already in the chain as %s (a chain tries each breaker once; naming one again would be a cycle)", field, name, at))
			continue
		}
		seen[name] = i
		b, ok := r.Get(name)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: %w: %q", field, ErrNotFound, name))
			continue
		}
		members[i] = b
	}
	if cfg.AttemptTimeout < 0 {
		errs = append(errs, fmt.Errorf("attempt_timeout: %v is negative (0 means no bound)", cfg.AttemptTimeout))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("fallback chain %q: %w", cfg.Primary, err)
	}
	c := &Chain{cfg: cfg, members: members, served: make([]*fallbackCounter, len(members))}
	for i := 1; i < len(members); i++ {
		c.served[i] = r.res.fallbackCounter(cfg.Primary, members[i].Name())
	}
	return c, nil
}

// Primary returns the name of the chain's primary.
func (c *Chain) Primary() string { return c.cfg.Primary }

// Members returns the names of the chain's members, primary first.
func (c *Chain) Members() []string {
	out := make([]string, len(c.members))
	for i, b := range c.members {
		out[i] = b.Name()
	}
	return out
}

// Config returns the chain's configuration.
func (c *Chain) Config() ChainConfig {
	cfg := c.cfg
	cfg.Fallbacks = append([]string(nil), cfg.Fallbacks...)
	return cfg
}

// MemberError is why one member of a chain did not serve a call.
type MemberError struct {
	// Member is the breaker's name.
	Member string
	// Skipped is true when the member's breaker rejected the call (it is
	// open, or half-open with its probes in flight): the function was not
	// called. Err is then a *RejectedError.
	Skipped bool
	// Err is the member's error.
	Err error
}

func (e *MemberError) Error() string {
	if e.Skipped {
		return fmt.Sprintf("%s: skipped: %v", e.Member, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Member, e.Err)
}

// Unwrap returns the member's error.
func (e *MemberError) Unwrap() error { return e.Err }

// ChainResult is the outcome of a chain call.
type ChainResult[T any] struct {
	// Value is what the serving member returned.
	Value T
	// Served is the name of the member that served; empty when none did.
	Served string
	// Fallback is true when a member other than the primary served (the
	// seed's _fallback).
	Fallback bool
	// Errors says, in chain order, why each member tried before Served did
	// not serve; when none served, why each tried member did not.
	Errors []*MemberError
}

// Skipped returns the names of the members whose breakers rejected the call.
func (r ChainResult[T]) Skipped() []string {
	var out []string
	for _, e := range r.Errors {
		if e.Skipped {
			out = append(out, e.Member)
		}
	}
	return out
}

// ChainError is the error of a chain call that no member served. It unwraps
// to every member's error (and to the caller's context error when that
// ended the chain early), so errors.Is and errors.As find each cause; it
// matches ErrChainExhausted when every member was tried.
type ChainError struct {
	// Primary is the chain's primary.
	Primary string
	// Members says why each tried member did not serve, in chain order.
	Members []*MemberError
	// Stopped, when not nil, is why the chain stopped before its last
	// member: the caller's context error, or the error a member marked
	// with NoFallback.
	Stopped error
}

func (e *ChainError) Error() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "fallback chain %q: ", e.Primary)
	if e.Stopped != nil {
		fmt.Fprintf(&sb, "stopped after %d member(s): %v", len(e.Members), e.Stopped)
	} else {
		sb.WriteString("no member served")
	}
	for _, m := range e.Members {
		sb.WriteString("; ")
		sb.WriteString(m.Error())
	}
	return sb.String()
}

// Unwrap returns each member's error and, if set, Stopped.
func (e *ChainError) Unwrap() []error {
	out := make([]error, 0, len(e.Members)+1)
	for _, m := range e.Members {
		out = append(out, m)
	}
	if e.Stopped != nil {
		out = append(out, e.Stopped)
	}
	return out
}

// Is reports whether target is ErrChainExhausted and every member was tried.
func (e *ChainError) Is(target error) bool {
	return target == ErrChainExhausted && e.Stopped == nil
}

// NoFallback marks err, returned by a chain's function, as one that other
// members would fail in the same way (e.g. the request itself is invalid):
// CallChain then stops and tries no further member. The member's breaker
// classifies err as usual (use Config.Classifier to make such errors
// neither success nor failure). errors.Is and errors.As see through the mark.
func NoFallback(err error) error {
	if err == nil {
		return nil
	}
	return &noFallbackError{err}
}

type noFallbackError struct{ err error }

func (e *noFallbackError) Error() string { return e.err.Error() }
func (e *noFallbackError) Unwrap() error { return e.err }

// CallChain calls fn through each member of c in order until one serves,
// and returns the value and which member served it. fn is called with the
// member's breaker (its Name tells fn which dependency to talk to) and runs
// through that breaker, so each member's breaker sees only its own calls. A
// member whose breaker rejects the call is skipped without calling fn.
//
// When a member other than the primary serves, circuit_breaker_fallback_total
// {name=<primary>, fallback=<member>} is incremented. When no member serves,
// the error is a *ChainError joining every member's cause. The chain also
// stops early, with a *ChainError, when the caller's ctx is done or when fn
// returns an error marked with NoFallback. The result's Errors are set in
// every case.
//
// A panic in fn counts as the member's failure and is re-panicked; the
// chain does not go on.
func CallChain[T any](ctx context.Context, c *Chain, fn func(ctx context.Context, member *Breaker) (T, error)) (ChainResult[T], error) {
	var res ChainResult[T]
	for i, b := range c.members {
		v, ran, err := chainAttempt(ctx, b, c.cfg.AttemptTimeout, fn)
		if err == nil {
			res.Value, res.Served, res.Fallback = v, b.Name(), i > 0
			if i > 0 {
				c.served[i].n.Add(1)
			}
			return res, nil
		}
		var nf *noFallbackError
		stop := errors.As(err, &nf)
		if stop {
			err = nf.err
		}
		res.Errors = append(res.Errors, &MemberError{Member: b.Name(), Skipped: !ran, Err: err})
		switch {
		case stop:
			return res, &ChainError{Primary: c.cfg.Primary, Members: res.Errors, Stopped: err}
		case ctx.Err() != nil && i < len(c.members)-1:
			return res, &ChainError{Primary: c.cfg.Primary, Members: res.Errors, Stopped: context.Cause(ctx)}
		}
	}
	return res, &ChainError{Primary: c.cfg.Primary, Members: res.Errors}
}

func chainAttempt[T any](ctx context.Context, b *Breaker, timeout time.Duration, fn func(context.Context, *Breaker) (T, error)) (v T, ran bool, err error) {
	ran, err = b.try(ctx, timeout, func(ctx context.Context) error {
		var err error
		v, err = fn(ctx, b)
		return err
	})
	return v, ran, err
}
