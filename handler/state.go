package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/rs/zerolog"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/archive"
	"github.com/azdetect/azdetect/internal/config"
	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/state"
)

// azuriteConnection is what UseDevelopmentStorage=true stands for: Azurite's
// Table service on its default port, with its published development key.
const azuriteConnection = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
	"AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
	"TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"

// openState builds the state store the settings name: memory (the default,
// one process), or Azure Table Storage by connection string or by account
// URL with azidentity's default credential (the function app's managed
// identity).
func openState(s config.Settings) (state.Store, error) {
	switch s.State {
	case "", "memory":
		return state.NewMemory(), nil
	case "table":
		if conn := strings.TrimSpace(s.TableConnectionString); conn != "" {
			if strings.EqualFold(conn, "UseDevelopmentStorage=true") {
				conn = azuriteConnection
			}
			t, err := state.NewTableFromConnectionString(conn, nil)
			if err != nil {
				// The SDK's error can quote the string: do not pass it on.
				return nil, fmt.Errorf("AZDETECT_TABLE_CONNECTION_STRING: not a usable Table Storage connection string (value not shown)")
			}
			return t, nil
		}
		cred, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return nil, fmt.Errorf("table storage credential: %w", err)
		}
		return state.NewTable(strings.TrimSpace(s.TableAccountURL), cred, nil)
	}
	return nil, fmt.Errorf("AZDETECT_STATE=%q: want memory or table", s.State)
}

// suppressor keeps sent alert ids: in the state store when it is shared
// (table), in process memory otherwise.
func suppressor(s config.Settings, store state.Store) alert.Suppressor {
	if s.State == "table" {
		return alert.NewStoreSuppressorWith(store, alert.StoreSuppressorOptions{Window: s.SuppressionWindow, Lease: s.ClaimLease})
	}
	return alert.MemorySuppressor{Deduper: alert.NewDeduper(s.SuppressionWindow, 1<<20)}
}

// maintainer is the maintenance timer's work: it sweeps what is past its
// expiry from every state table, so state never grows without bound.
type maintainer struct {
	outbox  *alert.Outbox    // nil unless alerts go to Service Bus
	archive *archive.Sweeper // nil unless archive blobs are followed
	// silence checks for sources gone quiet: per batch is not enough when
	// every source stops at once and no batch arrives.
	silence interface {
		CheckSilence(ctx context.Context) (int, error)
	}
	// claims sends the alerts of pending claims whose instance died
	// before sending or marking them; nil unless suppression is shared.
	claims *claimRedelivery
	store  state.Store
	tables []string
	now    func() time.Time
}

// claimRedelivery is what the timer needs to send pending claims.
type claimRedelivery struct {
	suppressor *alert.StoreSuppressor
	sink       alert.Sink
}

// redelivery returns the timer's part of a shared suppressor, nil for one
// in memory.
func redelivery(sup alert.Suppressor, sink alert.Sink) *claimRedelivery {
	if s, ok := sup.(*alert.StoreSuppressor); ok {
		return &claimRedelivery{suppressor: s, sink: sink}
	}
	return nil
}

func newMaintainer(store state.Store, outbox *alert.Outbox) *maintainer {
	return &maintainer{store: store, outbox: outbox, tables: []string{detect.StateTable, alert.SuppressionTable}, now: time.Now}
}

// Maintain implements invoke.Maintainer.
func (m *maintainer) Maintain(ctx context.Context) (string, error) {
	now := m.now()
	var parts []string
	if m.outbox != nil {
		// Alerts an outage kept from Service Bus go out first; a failure
		// fails the timer so it is logged and tried again next tick.
		n, err := m.outbox.Flush(ctx)
		if err != nil {
			return "", fmt.Errorf("flush alert outbox: %w", err)
		}
		parts = append(parts, fmt.Sprintf("outbox flushed %d", n))
	}
	if m.claims != nil {
		n, err := m.claims.suppressor.Redeliver(ctx, now, m.claims.sink)
		if err != nil {
			return "", fmt.Errorf("redeliver pending alert claims: %w", err)
		}
		parts = append(parts, fmt.Sprintf("claims redelivered %d", n))
	}
	total := 0
	for _, t := range m.tables {
		n, err := m.store.Sweep(ctx, t, now)
		if err != nil {
			return "", fmt.Errorf("sweep %s: %w", t, err)
		}
		total += n
		parts = append(parts, fmt.Sprintf("%s %d", t, n))
	}
	zerolog.Ctx(ctx).Info().Int("swept", total).Strs("tables", m.tables).Msg("state swept")
	line := fmt.Sprintf("swept %d expired entities (%s)", total, strings.Join(parts, ", "))
	if m.silence != nil {
		n, err := m.silence.CheckSilence(ctx)
		if err != nil {
			return "", err
		}
		line += fmt.Sprintf("; %d silent-source alert(s)", n)
	}
	if m.archive != nil {
		// New bytes of the archive blobs still being written: appends raise
		// no event, so the timer is what reads them.
		res, err := m.archive.Sweep(ctx)
		zerolog.Ctx(ctx).Info().Int("records", res.Report.Records).Int("alerts", len(res.Report.Alerts)).Msg(res.Summary())
		if err != nil {
			return "", fmt.Errorf("sweep archive: %w", err)
		}
		line += "; " + res.Summary()
	}
	return line, nil
}
