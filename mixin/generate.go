package mixin

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteGenerated writes data to the slash-separated path rel under root,
// creating its directories if needed: how every generator of breakerwatch
// writes its file.
func WriteGenerated(root, rel string, data []byte) error {
	path := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	return nil
}
