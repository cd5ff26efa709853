package dashboards

import (
	"github.com/breakerwatch/breakerwatch/mixin"
	"regexp"
	"strings"
)

var variableRef = regexp.MustCompile(`\$(\w+)|\$\{(\w+)\}`)

// Expand substitutes the dashboard variables of a panel query the way
// Grafana's Prometheus data source does inside a regex matcher: a variable
// missing from vars, or with no values, takes the "All" value (.+); one value
// is regex-escaped; several become (a|b). Variables Expand does not know
// ($__interval, ...) are left as they are; the dashboard uses none.
//
//	Expand(`up{job=~"$job"}`, map[string][]string{"job": {"a", "b"}}) == `up{job=~"(a|b)"}`
func Expand(expr string, vars map[string][]string) string {
	return variableRef.ReplaceAllStringFunc(expr, func(ref string) string {
		m := variableRef.FindStringSubmatch(ref)
		name := m[1] + m[2]
		if name != mixin.VarJob && name != mixin.VarBreaker {
			return ref
		}
		values := vars[name]
		switch len(values) {
		case 0:
			return AllValue
		case 1:
			return escapeValue(values[0])
		}
		escaped := make([]string, len(values))
		for i, v := range values {
			escaped[i] = escapeValue(v)
		}
		return "(" + strings.Join(escaped, "|") + ")"
	})
}

// escapeValue quotes v for a regex inside a PromQL double-quoted string: the
// regex's backslashes are themselves escaped for the string literal.
func escapeValue(v string) string {
	q := regexp.QuoteMeta(v)
	q = strings.ReplaceAll(q, `\`, `\\`)
	return strings.ReplaceAll(q, `"`, `\"`)
}
