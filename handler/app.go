package main

import (
	"fmt"

	"github.com/azdetect/azdetect/internal/config"
	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/silence"
	"github.com/azdetect/azdetect/internal/source"
	"github.com/azdetect/azdetect/internal/state"
)

// engine loads the embedded rules plus the settings' folder and builds the
// rule engine and the source registry every command shares.
// opts add to the engine's options (the state store: WithStore).
func engine(s config.Settings, opts ...detect.Option) (*source.Registry, *detect.Engine, []*detect.Rule, error) {
	reg, err := source.NewRegistry()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("source registry: %w", err)
	}
	nets, err := source.ParseNetworks(s.PrivateRanges, s.AzureServiceRanges)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("AZDETECT_PRIVATE_RANGES / AZDETECT_AZURE_SERVICE_RANGES: %w", err)
	}
	reg.SetNetworks(nets)
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

// silenceTracker is serve's check for log sources gone silent
// (AZDETECT_SILENCE_AFTER; nil when 0). scan never checks: its records are
// old by nature.
func silenceTracker(s config.Settings, store state.Store) (*silence.Tracker, error) {
	if s.SilenceAfter <= 0 {
		return nil, nil
	}
	return silence.New(store, s.SilenceAfter)
}
