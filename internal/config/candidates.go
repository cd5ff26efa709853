package config

import (
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"go.yaml.in/yaml/v3"
)

// candidates reads a breaker's candidates: a mapping of names to partial
// settings. The rules they must follow (names, how many, values) are
// breaker.Config.Validate's, applied with the breaker's other settings.
func (p *parser) candidates(n *yaml.Node, path string) map[string]breaker.Candidate {
	if n.Kind != yaml.MappingNode {
		p.problem(n, path, "want a mapping of candidate names to settings, like {strict: {failure_threshold: 3}}, not %s", describe(n))
		return nil
	}
	out := map[string]breaker.Candidate{}
	p.mapping(n, path, func(name, cp string, _, v *yaml.Node) {
		var c breaker.Candidate
		if isNull(v) || (v.Kind == yaml.MappingNode && len(v.Content) == 0) {
			out[name] = c // reported by Validate: sets nothing
			return
		}
		before := len(p.ps.list)
		p.mapping(v, cp, func(key, kp string, k, v *yaml.Node) {
			switch key {
			case "failure_threshold":
				c.FailureThreshold = p.candidateUint32(v, kp)
			case "min_throughput":
				c.MinThroughput = p.candidateUint32(v, kp)
			case "half_open_requests":
				c.HalfOpenRequests = p.candidateUint32(v, kp)
			case "failure_rate":
				if f, ok := p.rate(v, kp); ok {
					c.FailureRate = &f
				}
			case "slow_call":
				c.SlowCall = p.candidateDuration(v, kp)
			case "timeout":
				c.Timeout = p.candidateDuration(v, kp)
			case "window":
				c.Window = p.candidateDuration(v, kp)
			default:
				p.unknown(k, cp, key, breaker.CandidateKeys)
			}
		})
		if len(p.ps.list) == before { // else reported already
			out[name] = c
		}
	})
	return out
}

func (p *parser) candidateUint32(v *yaml.Node, path string) *uint32 {
	var n uint32
	if !p.uint32(v, path, &n) {
		return nil
	}
	return &n
}

func (p *parser) candidateDuration(v *yaml.Node, path string) *time.Duration {
	var d time.Duration
	if !p.duration(v, path, &d) {
		return nil
	}
	return &d
}
