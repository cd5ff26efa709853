package monitoring

//go:generate go run ../cmd/breakerwatch generate --root ..

import (
	"fmt"
	"os"
	"path/filepath"
)

// Paths of the generated files, relative to the repository root.
const (
	DashboardPath = "dashboards/circuit-breakers.json"
	RulesPath     = "alerts/rules.yml"
)

// WriteFiles writes DashboardPath and RulesPath under root for p, creating
// their directories if needed.
func WriteFiles(root string, p Params) error {
	dash, err := DashboardJSON(p)
	if err != nil {
		return err
	}
	rules, err := RulesYAML(p)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		path string
		data []byte
	}{{DashboardPath, dash}, {RulesPath, rules}} {
		path := filepath.Join(root, filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("monitoring: %w", err)
		}
		if err := os.WriteFile(path, f.data, 0o644); err != nil {
			return fmt.Errorf("monitoring: %w", err)
		}
	}
	return nil
}
