package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
)

// Provider is one chat-completions provider speaking the OpenAI wire format
// (OpenAI itself, and the OpenAI-compatible endpoints of Anthropic, Gemini
// and most others): POST {BaseURL}/chat/completions.
type Provider struct {
	// Name is the provider's breaker name, e.g. openai_api.
	Name string
	// BaseURL is the API's base, e.g. https://api.openai.com/v1.
	BaseURL string
	// APIKey is sent as a bearer token; empty sends none.
	APIKey string
	// Model is the model asked for.
	Model string
}

// Completion is a chat completion and where it came from.
type Completion struct {
	Content string
	Model   string
	// Provider served it; Fallback is true when it is not the first one
	// (the seed's _fallback).
	Provider string
	Fallback bool
	// NotServed says why each provider before Provider did not serve.
	NotServed []*breaker.MemberError
}

// StatusError is a provider's non-2xx answer.
type StatusError struct {
	Provider string
	Code     int
	Body     string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("status %d: %s", e.Code, e.Body)
}

// requestFault reports whether the status blames the request rather than
// the provider: another provider would refuse the same request, so there
// is no point falling back, and the provider's breaker should not count it.
// A bad key (401, 403), a missing model (404), throttling (429) and server
// errors are the provider's: its breaker counts them and the next provider
// is tried, as in the seed's wrong-API-key failover test.
func requestFault(code int) bool {
	switch code {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return true
	}
	return false
}

// Classify is the providers' breaker Classifier: request faults are
// neither success nor failure; everything else as by default.
func Classify(ctx context.Context, err error) breaker.Outcome {
	var se *StatusError
	switch {
	case err == nil:
		return breaker.OutcomeSuccess
	case errors.As(err, &se) && requestFault(se.Code):
		return breaker.OutcomeIgnored
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return breaker.OutcomeIgnored // the caller gave up
	}
	return breaker.OutcomeFailure
}

// Router sends each completion to the first provider that serves it.
type Router struct {
	chain     *breaker.Chain
	providers map[string]Provider
	client    *http.Client
}

// RouterOptions configures NewRouter.
type RouterOptions struct {
	// Breaker is the template of each provider's breaker config; Name and
	// Classifier are set per provider.
	Breaker breaker.Config
	// AttemptTimeout bounds each provider's attempt. Default 30s.
	AttemptTimeout time.Duration
	// Client makes the requests. Default http.DefaultClient.
	Client *http.Client
}

// NewRouter registers a breaker per provider in reg and chains them in the
// given order: the first is the primary.
func NewRouter(reg *breaker.Registry, providers []Provider, opts RouterOptions) (*Router, error) {
	if len(providers) == 0 {
		return nil, errors.New("providers: none given")
	}
	if opts.AttemptTimeout == 0 {
		opts.AttemptTimeout = 30 * time.Second
	}
	if opts.Client == nil {
		opts.Client = http.DefaultClient
	}
	r := &Router{providers: map[string]Provider{}, client: opts.Client}
	names := make([]string, len(providers))
	for i, p := range providers {
		cfg := opts.Breaker
		cfg.Name, cfg.Classifier = p.Name, Classify
		if _, err := reg.Register(cfg); err != nil {
			return nil, err
		}
		r.providers[p.Name] = p
		names[i] = p.Name
	}
	chain, err := reg.NewChainFromConfig(breaker.ChainConfig{
		Primary: names[0], Fallbacks: names[1:], AttemptTimeout: opts.AttemptTimeout,
	})
	if err != nil {
		return nil, err
	}
	r.chain = chain
	return r, nil
}

// Complete asks the providers in order for a completion of prompt.
func (r *Router) Complete(ctx context.Context, prompt string) (Completion, error) {
	res, err := breaker.CallChain(ctx, r.chain, func(ctx context.Context, member *breaker.Breaker) (Completion, error) {
		return r.complete(ctx, r.providers[member.Name()], prompt)
	})
	c := res.Value
	c.Provider, c.Fallback, c.NotServed = res.Served, res.Fallback, res.Errors
	return c, err
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type chatRequest struct {
	Model    string        `json:"model"`
	Messages []chatMessage `json:"messages"`
}

type chatResponse struct {
	Model   string `json:"model"`
	Choices []struct {
		Message chatMessage `json:"message"`
	} `json:"choices"`
}

func (r *Router) complete(ctx context.Context, p Provider, prompt string) (Completion, error) {
	body, err := json.Marshal(chatRequest{Model: p.Model, Messages: []chatMessage{{Role: "user", Content: prompt}}})
	if err != nil {
		return Completion{}, breaker.NoFallback(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(p.BaseURL, "/")+"/chat/completions", bytes.NewReader(body))
	if err != nil {
		return Completion{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if p.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+p.APIKey)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return Completion{}, err
	}
	defer resp.Body.Close()
	// Read the whole answer before returning: the attempt's context ends
	// when this function returns.
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return Completion{}, fmt.Errorf("%s: reading the answer: %w", p.Name, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		se := &StatusError{Provider: p.Name, Code: resp.StatusCode, Body: strings.TrimSpace(string(data[:min(len(data), 200)]))}
		if requestFault(se.Code) {
			return Completion{}, breaker.NoFallback(se)
		}
		return Completion{}, se
	}
	var cr chatResponse
	if err := json.Unmarshal(data, &cr); err != nil {
		return Completion{}, fmt.Errorf("%s: decoding the answer: %w", p.Name, err)
	}
	if len(cr.Choices) == 0 {
		return Completion{}, fmt.Errorf("%s: an answer without choices", p.Name)
	}
	return Completion{Content: cr.Choices[0].Message.Content, Model: cr.Model}, nil
}
