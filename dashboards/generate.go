package dashboards

//go:generate go run ../cmd/breakerwatch generate --root ..

import "github.com/breakerwatch/breakerwatch/mixin"

// DashboardPath is the path of the generated dashboard, relative to the
// repository root.
const DashboardPath = "dashboards/circuit-breakers.json"

// WriteFile writes DashboardJSON(p) to DashboardPath under root.
func WriteFile(root string, p mixin.Params) error {
	dash, err := DashboardJSON(p)
	if err != nil {
		return err
	}
	return mixin.WriteGenerated(root, DashboardPath, dash)
}
