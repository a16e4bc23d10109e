package state_test

import (
	"testing"

	"github.com/azdetect/azdetect/internal/state"
	"github.com/azdetect/azdetect/internal/state/storetest"
)

func TestMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) state.Store { return state.NewMemory() })
}
