package mixin

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// validateSelector checks that sel is a comma-separated list of PromQL label
// matchers without braces: label="value", label!="value", label=~"regex" or
// label!~"regex", values double-quoted (or in backquotes) as in PromQL, each
// regex valid. The error says what is wrong and where.
func validateSelector(sel string) error {
	if strings.TrimSpace(sel) == "" {
		return errors.New("empty: give at least one matcher, e.g. job=\"api\"")
	}
	if strings.ContainsAny(sel, "{}") {
		return errors.New("give matchers without braces")
	}
	rest := sel
	for n := 1; ; n++ {
		rest = strings.TrimLeft(rest, " \t")
		if rest == "" {
			if n == 1 {
				return errors.New("no matcher")
			}
			return nil // a trailing comma, as PromQL allows
		}
		name := labelNamePrefix.FindString(rest)
		if name == "" {
			return fmt.Errorf("matcher %d: %q: want a label name", n, clip(rest))
		}
		if name == "__name__" {
			return fmt.Errorf("matcher %d: the selector applies to every metric: it cannot match __name__", n)
		}
		rest = strings.TrimLeft(rest[len(name):], " \t")
		var op string
		for _, o := range []string{"=~", "!~", "!=", "="} {
			if strings.HasPrefix(rest, o) {
				op = o
				break
			}
		}
		if op == "" {
			return fmt.Errorf("matcher %d (%s): %q: want =, !=, =~ or !~", n, name, clip(rest))
		}
		rest = strings.TrimLeft(rest[len(op):], " \t")
		quoted, err := strconv.QuotedPrefix(rest)
		if err != nil || quoted[0] == '\'' {
			return fmt.Errorf("matcher %d (%s%s): %q: want a double-quoted value", n, name, op, clip(rest))
		}
		value, _ := strconv.Unquote(quoted)
		if op == "=~" || op == "!~" {
			if _, err := regexp.Compile("^(?:" + value + ")$"); err != nil {
				return fmt.Errorf("matcher %d (%s%s%s): %v", n, name, op, quoted, err)
			}
		}
		rest = strings.TrimLeft(rest[len(quoted):], " \t")
		if rest == "" {
			return nil
		}
		if rest[0] != ',' {
			return fmt.Errorf("matcher %d (%s%s%s): %q: want a comma before the next matcher", n, name, op, quoted, clip(rest))
		}
		rest = rest[1:]
	}
}

var (
	labelNamePrefix = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*`)
	labelName       = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 20 {
		return s[:20] + "..."
	}
	return s
}

// validateGroupBy checks the extra grouping labels: valid label names, none
// repeated, none of the labels the queries already use.
func validateGroupBy(labels []string) error {
	seen := map[string]bool{}
	for _, l := range labels {
		switch {
		case !labelName.MatchString(l) || strings.HasPrefix(l, "__"):
			return fmt.Errorf("%q is not a label name", l)
		case seen[l]:
			return fmt.Errorf("%q is repeated", l)
		case reservedLabels[l]:
			return fmt.Errorf("%q is already used by the queries", l)
		}
		seen[l] = true
	}
	return nil
}

// validateBaseURL checks an absolute http(s) URL without a fragment.
func validateBaseURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return err
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("want an http:// or https:// URL")
	case u.Host == "":
		return errors.New("no host")
	case u.Fragment != "" || strings.Contains(s, "#"):
		return errors.New("no #fragment: each alert adds its own")
	case strings.ContainsAny(s, " \t\n\"'{}"):
		return errors.New("contains a space, a quote or a brace")
	}
	return nil
}
