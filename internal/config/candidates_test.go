package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
)

func TestParseCandidates(t *testing.T) {
	c, err := Parse("c.yaml", []byte(`
breakers:
  openai_api:
    mode: monitor
    failure_threshold: 5
    candidates:
      strict: {failure_threshold: 3}
      rate: {failure_rate: 0.5, min_throughput: 20}
      patient:
        timeout: 2m
        half_open_requests: 3
        window: 30s
        slow_call: 10s
      no_rate: {failure_rate: 0, slow_call: 0s}
`), env())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]breaker.Candidate{
		"strict":  {FailureThreshold: new(uint32(3))},
		"rate":    {FailureRate: new(0.5), MinThroughput: new(uint32(20))},
		"patient": {Timeout: new(2 * time.Minute), HalfOpenRequests: new(uint32(3)), Window: new(30 * time.Second), SlowCall: new(10 * time.Second)},
		"no_rate": {FailureRate: new(0.0), SlowCall: new(time.Duration(0))},
	}
	if got := c.Breakers[0].Candidates; !reflect.DeepEqual(got, want) {
		t.Errorf("candidates = %+v\nwant %+v", got, want)
	}
}

func TestCandidateProblems(t *testing.T) {
	tests := map[string]struct {
		yaml string
		want []string
	}{
		"in defaults": {
			yaml: "defaults:\n  candidates: {a: {failure_threshold: 3}}\n",
			want: []string{"c.yaml:2: defaults.candidates: candidates are evaluated against one breaker: set them under breakers:, not in defaults"},
		},
		"not a mapping": {
			yaml: "breakers:\n  a:\n    candidates: [strict]\n",
			want: []string{`c.yaml:3: breakers.a.candidates: want a mapping of candidate names to settings, like {strict: {failure_threshold: 3}}, not a list`},
		},
		"bad keys and values, each at its line": {
			yaml: `breakers:
  a:
    failure_threshold: 5
    candidates:
      strict:
        failure_treshold: 3
      rate:
        failure_rate: 1.5
      slow:
        timeout: 90
      zero:
        failure_threshold: 0
      empty: {}
      current: {timeout: 1s}
      busy: {min_throughput: lots, half_open_requests: -1}
`,
			want: []string{
				"c.yaml:6: breakers.a.candidates.strict.failure_treshold: unknown key (known here: " + breaker.CandidateKeys + ")",
				"c.yaml:8: breakers.a: candidates.rate.failure_rate: 1.5 is outside (0, 1] (0 turns it off)",
				`c.yaml:10: breakers.a.candidates.slow.timeout: "90" has no unit: want a duration like 90s`,
				"c.yaml:12: breakers.a: candidates.zero.failure_threshold: 0 is not a setting here (omit it to keep the breaker's own)",
				"c.yaml:13: breakers.a: candidates.empty: sets nothing, so it is the breaker's own setting (set one of " + breaker.CandidateKeys + ")",
				`c.yaml:14: breakers.a: candidates.current: the name "current" is reserved for the breaker's own setting`,
				`c.yaml:15: breakers.a.candidates.busy.min_throughput: want a whole number (0 for the default), not "lots"`,
				`c.yaml:15: breakers.a.candidates.busy.half_open_requests: want a whole number (0 for the default), not "-1"`,
			},
		},
		// Found by the fields of breaker.FieldError, not by cutting the text
		// at its first colon, which put this at the candidates: line.
		"a candidate name with a colon, at its line": {
			yaml: "breakers:\n  a:\n    candidates:\n      strict: {timeout: 1s}\n      'x:y': {timeout: 2s}\n",
			want: []string{`c.yaml:5: breakers.a: candidates.x:y: the name "x:y" must match [A-Za-z0-9_.-]{1,64} (it is a label value)`},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(tt.yaml), env())
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Parse = %v; want an *Error", err)
			}
			var got []string
			for _, p := range ce.Problems {
				got = append(got, p.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
