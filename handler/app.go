package main

import (
	"fmt"

	"github.com/azdetect/azdetect/internal/config"
	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/source"
)

// engine loads the embedded rules plus the settings' folder and builds the
// rule engine and the source registry every command shares.
// opts add to the engine's options (the state store: WithStore).
func engine(s config.Settings, opts ...detect.Option) (*source.Registry, *detect.Engine, []*detect.Rule, error) {
	reg, err := source.NewRegistry()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("source registry: %w", err)
	}
	rules, err := detect.LoadDefault(s.RulesDir)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("load rules: %w", err)
	}
	opts = append([]detect.Option{detect.WithDisabled(s.DisabledRules...), detect.WithOverrides(s.RuleOverrides...)}, opts...)
	eng, err := detect.NewEngine(rules, opts...)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("build rule engine: %w", err)
	}
	return reg, eng, rules, nil
}
