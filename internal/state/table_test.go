package state_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/azdetect/azdetect/internal/state"
	"github.com/azdetect/azdetect/internal/state/azurite"
	"github.com/azdetect/azdetect/internal/state/storetest"
)

// emulator is Azurite's Table service, started once for the package.
var emulator *azurite.Server

func TestMain(m *testing.M) { azurite.Main(m, azurite.Table, &emulator) }

func newTable(t *testing.T) state.Store {
	t.Helper()
	s, err := state.NewTableFromConnectionString(emulator.TableConnectionString(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTable(t *testing.T) {
	storetest.Run(t, newTable)
}

func TestTableTwoProcesses(t *testing.T) {
	storetest.RunProcesses(t, newTable, emulator.Env())
}

// TestTableDependencyFailure: a service failure (after the SDK's retries,
// none here) comes back wrapped, as the SDK's *azcore.ResponseError, and is
// not a conflict, so the invocation fails and the host redelivers.
func TestTableDependencyFailure(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/Tables") {
			w.Header().Set("x-ms-error-code", "TableAlreadyExists")
			w.WriteHeader(http.StatusConflict)
			return
		}
		w.Header().Set("x-ms-error-code", "ServerBusy")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	conn := "DefaultEndpointsProtocol=http;AccountName=" + azurite.Account + ";AccountKey=" + azurite.AccountKey +
		";TableEndpoint=" + srv.URL + "/" + azurite.Account + ";"
	s, err := state.NewTableFromConnectionString(conn, &state.TableOptions{
		Client: &aztables.ClientOptions{ClientOptions: azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ops := []state.Op{{Kind: state.Upsert, Entity: state.Entity{PartitionKey: "p", RowKey: "r", Count: 1}}}
	err = s.Apply(t.Context(), "failing", ops)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusServiceUnavailable || errors.Is(err, state.ErrConflict) {
		t.Fatalf("apply: err = %v, want a wrapped 503 that is not a conflict", err)
	}
	if !strings.Contains(err.Error(), `partition "p"`) {
		t.Errorf("apply error does not name the partition: %v", err)
	}
	if _, err := s.Get(t.Context(), "failing", []state.Key{{PartitionKey: "p", RowKey: "r"}}); !errors.As(err, &re) {
		t.Errorf("get: err = %v, want a wrapped *azcore.ResponseError", err)
	}
	if _, err := s.Sweep(t.Context(), "failing", time.Now()); !errors.As(err, &re) {
		t.Errorf("sweep: err = %v, want a wrapped *azcore.ResponseError", err)
	}
}
