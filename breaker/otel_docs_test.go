package breaker_test

import (
	"os"
	"strings"
	"testing"
)

// docs/opentelemetry.md quotes Example_ownMeterProvider's body verbatim
// (indentation removed): the snippet users copy is the one go test runs.
func TestDocQuotesOwnProviderExample(t *testing.T) {
	src, err := os.ReadFile("example_otel_test.go")
	if err != nil {
		t.Fatal(err)
	}
	const head = "func Example_ownMeterProvider() {\n"
	s := string(src)
	i := strings.Index(s, head)
	j := strings.Index(s[i:], "\t// Output:")
	if i < 0 || j < 0 {
		t.Fatal("example not found")
	}
	var body []string
	for _, l := range strings.Split(strings.TrimRight(s[i+len(head):i+j], "\n"), "\n") {
		body = append(body, strings.TrimPrefix(l, "\t"))
	}
	doc, err := os.ReadFile("../docs/opentelemetry.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Join(body, "\n"); !strings.Contains(string(doc), "```go\n"+want+"\n```") {
		t.Errorf("docs/opentelemetry.md does not quote Example_ownMeterProvider; its body is:\n%s", want)
	}
}
