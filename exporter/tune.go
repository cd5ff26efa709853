package exporter

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/breakerwatch/breakerwatch/breaker"
)

// The tune endpoint: GET reports how the breaker's own setting and each of
// its candidates would have behaved (breaker.Breaker.Tune); POST promotes a
// candidate (breaker.Breaker.Promote), with the authorisation of every
// mutation.

const promoteBodyHelp = `body must be {"promote": "<candidate name>"}`

// PromoteNote is the note of a promotion's response: where it applies.
const PromoteNote = "runtime override in this process only, like a mode change: a restart goes back to the configured settings"

type (
	promoteRequest struct {
		Promote *string `json:"promote"`
	}
	promoteBody struct {
		Action    string           `json:"action"`
		Breaker   string           `json:"breaker"`
		Candidate string           `json:"candidate"`
		From      breaker.Settings `json:"from"`
		To        breaker.Settings `json:"to"`
		State     breaker.State    `json:"state"`
		Mode      breaker.Mode     `json:"mode"`
		Note      string           `json:"note"`
	}
)

func (a *admin) tune(w http.ResponseWriter, r *http.Request, name string) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		a.read(w, r, func() (int, any) { return a.tuneReport(name) })
	case http.MethodPost:
		a.mutate(w, r, "promote", name, a.promote)
	default:
		methodNotAllowed(w, r, "GET, HEAD, POST")
	}
}

func (a *admin) tuneReport(name string) (int, any) {
	b, ok := a.reg.Get(name)
	if !ok {
		status, body, _ := unknownBreaker(name)
		return status, body
	}
	rep, err := b.Tune()
	if err != nil {
		return http.StatusNotFound, errorBody{Error: err.Error()}
	}
	return http.StatusOK, rep
}

func (a *admin) promote(r *http.Request, name string) (int, any, []slog.Attr) {
	b, ok := a.reg.Get(name)
	if !ok {
		return unknownBreaker(name)
	}
	var req promoteRequest
	if status, msg := decodeBody(r, &req, promoteBodyHelp); status != 0 {
		return status, errorBody{Error: msg}, nil
	}
	if req.Promote == nil || *req.Promote == "" {
		return http.StatusBadRequest, errorBody{Error: "missing promote: " + promoteBodyHelp}, nil
	}
	cand := *req.Promote
	p, err := b.Promote(cand)
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, breaker.ErrNoCandidate) {
			status = http.StatusNotFound
		}
		return status, errorBody{Error: err.Error()}, []slog.Attr{slog.String("candidate", clip(cand))}
	}
	return http.StatusOK, promoteBody{
			Action: "promote", Breaker: name, Candidate: cand, From: p.From, To: p.To,
			State: b.State(), Mode: b.Mode(), Note: PromoteNote,
		}, []slog.Attr{
			slog.String("candidate", cand),
			slog.String("settings", fmt.Sprintf("%+v", p.To)),
		}
}
