package alerts

//go:generate go run ../cmd/breakerwatch generate --root ..

import "github.com/breakerwatch/breakerwatch/mixin"

// RulesPath is the path of the generated rules, relative to the repository
// root.
const RulesPath = "alerts/rules.yml"

// WriteFile writes RulesYAML(p) to RulesPath under root.
func WriteFile(root string, p mixin.Params) error {
	rules, err := RulesYAML(p)
	if err != nil {
		return err
	}
	return mixin.WriteGenerated(root, RulesPath, rules)
}
