package main

import (
	"context"
	"maps"
	"math/rand/v2"
	"testing"

	"github.com/azdetect/azdetect/internal/alert"
)

// severityCount counts every alert under its severity, in runs of one
// severity or not, batch after batch.
func TestSeverityCountCountsEachAlert(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	words := append(alert.Severities(), "", "High")
	var c severityCount
	want := map[string]int{}
	for range 50 {
		alerts := make([]alert.Alert, rng.IntN(20))
		sev := words[0]
		for i := range alerts {
			if rng.IntN(3) == 0 {
				sev = words[rng.IntN(len(words))]
			}
			alerts[i].Severity = sev
			want[sev]++
		}
		if err := c.Publish(context.Background(), alerts); err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(map[string]int(c), want) {
			t.Fatalf("%v, want %v", c, want)
		}
	}
}
