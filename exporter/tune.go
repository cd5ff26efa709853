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

const promoteBodyHelp = `body must be {"promote": "<candidate name>"} or {"clear": true}`

// PromoteNote is the note of a promotion's response without a fleet: where
// it applies.
const PromoteNote = "runtime override in this process only, like a mode change: a restart goes back to the configured settings"

// Notes of a promotion's response with a fleet.
const (
	promoteNoteFleet = "fleet override, like a mode override: every replica applies it, also after a restart, until ctl tune NAME --clear"
	clearNote        = "back to the configured settings"
)

type (
	promoteRequest struct {
		Promote *string `json:"promote"`
		Clear   bool    `json:"clear"`
	}
	promoteBody struct {
		Action    string           `json:"action"`
		Breaker   string           `json:"breaker"`
		Candidate string           `json:"candidate"`
		From      breaker.Settings `json:"from"`
		To        breaker.Settings `json:"to"`
		State     breaker.State    `json:"state"`
		Mode      breaker.Mode     `json:"mode"`
		// SettingsSource is where the settings now come from: config,
		// runtime, or a fleet override with who and when.
		SettingsSource string `json:"settings_source"`
		Note           string `json:"note"`
		Fleet          string `json:"fleet,omitempty"`
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

// promote applies {"promote": CANDIDATE} or, with {"clear": true}, goes
// back to the configured settings: a fleet override with a fleet, else in
// this process only, exactly as a mode change.
func (a *admin) promote(r *http.Request, name string) (int, any, []slog.Attr) {
	b, ok := a.reg.Get(name)
	if !ok {
		return unknownBreaker(name)
	}
	var req promoteRequest
	if status, msg := decodeBody(r, &req, promoteBodyHelp); status != 0 {
		return status, errorBody{Error: msg}, nil
	}
	switch {
	case req.Clear && req.Promote != nil:
		return http.StatusBadRequest, errorBody{Error: "both promote and clear: " + promoteBodyHelp}, nil
	case !req.Clear && (req.Promote == nil || *req.Promote == ""):
		return http.StatusBadRequest, errorBody{Error: "missing promote: " + promoteBodyHelp}, nil
	}
	var (
		cand       string
		p          breaker.Promotion
		err, ferr  error
		action     = "promote"
		note       = PromoteNote
		candidates = []slog.Attr{}
	)
	if req.Clear {
		action, note = "clear-promotion", clearNote
	} else {
		cand = *req.Promote
		candidates = append(candidates, slog.String("candidate", clip(cand)))
	}
	switch {
	case a.fleet != nil && req.Clear:
		p, ferr = a.fleet.ClearPromotion(r.Context(), name, actor(r))
	case a.fleet != nil:
		p, ferr = a.fleet.Promote(r.Context(), name, cand, actor(r))
		note = promoteNoteFleet
	case req.Clear:
		p, err = b.ClearPromotion()
	default:
		p, err = b.Promote(cand)
	}
	if ferr != nil && !a.fleet.Unrecorded(ferr) {
		err = ferr
	}
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, breaker.ErrNoCandidate) {
			status = http.StatusNotFound
		}
		return status, errorBody{Error: err.Error()}, candidates
	}
	if ferr != nil && !req.Clear {
		note = PromoteNote
	}
	_, src := b.Promoted()
	return http.StatusOK, promoteBody{
			Action: action, Breaker: name, Candidate: cand, From: p.From, To: p.To,
			State: b.State(), Mode: b.Mode(), SettingsSource: src, Note: note, Fleet: a.recorded(ferr),
		}, a.fleetAttr(ferr, append(candidates,
			slog.String("settings", fmt.Sprintf("%+v", p.To)), slog.String("settings_source", src))...)
}
