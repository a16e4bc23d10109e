package scale

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/state"
)

// envInt reads a positive integer setting of the simulation.
func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// TestSimulate runs N serve processes (AZDETECT_SIMULATE_INSTANCES, 4 by
// default; `make simulate` runs 16) on one Azurite table, each fed its own
// Event Hub partition's batches, with a password spray, a brute force and a
// mass deletion spread over every partition, every third batch redelivered
// and instance 0 killed in the middle of a batch, from empty tables. The
// alerts raised are those of one sequential `azdetect scan` of the same
// records, each sent once, each attack's count in the table is exact, and
// no counter write conflicts.
func TestSimulate(t *testing.T) {
	conn := emulator.TableConnectionString(t)
	instances := envInt(t, "AZDETECT_SIMULATE_INSTANCES", 4)
	perPartition := envInt(t, "AZDETECT_SIMULATE_RECORDS", 400)
	dir := t.TempDir()
	bin := filepath.Join(dir, "azdetect")
	build := exec.Command("go", "build", "-o", bin, "../../handler")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	functions, err := filepath.Abs("../../functions")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Bin: bin, FunctionsDir: functions, WorkDir: dir, TableConnectionString: conn,
		Instances: instances, RecordsPerPartition: perPartition, EventsPerBatch: 4, RecordsPerEvent: 25,
		RedeliverEvery: 3, Kill: true, KillBatch: 2, Seed: 7, Log: testLog{t},
	}
	res, err := Simulate(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.Summary(instances))
	if res.Killed != 1 {
		t.Errorf("%d processes killed mid-batch, want 1", res.Killed)
	}

	// One sequential scan of the same records, in the order they happened
	// (as one partition would have delivered them). A sequence rule's
	// identity follows arrival order (which records are its first step),
	// so the scan is in time order, not partition after partition.
	recs := res.Workload.Records()
	slices.SortStableFunc(recs, func(a, b string) int { return recordTime(a).Compare(recordTime(b)) })
	all := filepath.Join(dir, "all.jsonl")
	if err := os.WriteFile(all, []byte(strings.Join(recs, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "scan", "--format", "json", all).Output()
	if err != nil && len(out) == 0 {
		t.Fatalf("scan: %v", err)
	}
	var want []string
	titles := map[string]string{}
	groupOf := map[string]string{} // alert id -> rule and group
	for _, a := range res.Sent {
		titles[a.ID] = a.Title + " (" + a.GroupKey + ")"
		groupOf[a.ID] = a.RuleID + "/" + a.GroupKey
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var a SentAlert
		if json.Unmarshal(sc.Bytes(), &a) == nil && a.ID != "" {
			want = append(want, a.ID)
			titles[a.ID] = a.Title + " (" + a.GroupKey + ")"
			groupOf[a.ID] = a.RuleID + "/" + a.GroupKey
		}
	}
	slices.Sort(want)
	got := res.AlertIDs()
	// A sequence's identity is its first step's time, and which first
	// step an instance has seen when the last step arrives depends on how
	// far the other partitions have come: the simulation must raise every
	// sequence scan raises (by rule and group) and may raise one again
	// with an earlier first step. Every other alert id is exact.
	alerted := map[string]bool{}
	for _, id := range got {
		alerted[groupOf[id]] = true
	}
	for _, id := range want {
		if _, ok := slices.BinarySearch(got, id); !ok && !(id2seq(t, id, groupOf) && alerted[groupOf[id]]) {
			t.Errorf("scan raised %s %s, the simulation did not", id, titles[id])
		}
	}
	for _, id := range got {
		if _, ok := slices.BinarySearch(want, id); !ok {
			switch {
			case id2seq(t, id, groupOf):
				t.Logf("the simulation raised the sequence %s %s again, with another first step", id, titles[id])
			default:
				t.Errorf("the simulation raised %s %s, scan did not", id, titles[id])
			}
		}
	}
	if !slices.ContainsFunc(res.Sent, func(a SentAlert) bool { return a.RuleID == successAfterSpray && a.GroupKey == res.Workload.SprayIP }) {
		t.Errorf("the spray's success raised no %s alert", successAfterSpray)
	}
	if len(want) < 3 {
		t.Errorf("scan raised %d alerts, want the spray, the brute force and the mass deletion", len(want))
	}
	byID := map[string]int{}
	for _, a := range res.Sent {
		byID[a.ID]++
	}
	for id, n := range byID {
		if n > 1 {
			// Suppression claims each alert id insert-if-absent before
			// it is sent: exactly one instance sends it (the kill comes
			// at a state transaction, before any claim of its batch).
			t.Errorf("alert %s %s sent %d times", id, titles[id], n)
		}
	}

	// Each attack's count, summed over the partitions' rows, is exact.
	table, err := state.NewTableFromConnectionString(conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := res.Workload
	for _, c := range []struct {
		rule, group string
		window      time.Time
		want        int
	}{
		{"1f0e6b8e-5a0c-4a8e-9d55-6c3c1a4b2f01", w.SprayIP, w.SprayWindow, w.SprayUsers},
		{"2a7c3d10-6b1d-4f2e-8a44-7d4d2b5c3e02", w.BruteUser, w.BruteWindow, w.BruteFailures},
		{"4c9e5f32-8d3f-4b40-8c66-9f6f4d7e5a04", w.DeleteCaller, w.DeletionWindow, w.MassDeletes},
	} {
		n, err := detect.ThresholdCount(t.Context(), table, c.rule, c.window, c.group)
		if err != nil {
			t.Fatal(err)
		}
		if n != int64(c.want) {
			t.Errorf("rule %s group %s: count %d, want %d", c.rule, c.group, n, c.want)
		}
	}
	if res.Conflicts > 0 {
		t.Logf("conflicts by what was written: %v", res.ConflictsBy)
	}
	// A transaction a Table store's view of the partition checked may
	// conflict on any row (the view was stale): those are counted apart,
	// as "view ...", and bounded by the store's backoff.
	for what, n := range res.ConflictsBy {
		if strings.HasPrefix(what, detect.StateTable+"/thr") || strings.HasPrefix(what, detect.StateTable+"/spk") {
			t.Errorf("%d conflicts on %s: counters are per writer and must never conflict", n, what)
		}
	}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// successAfterSpray is the sequence rule the workload's spray completes.
const successAfterSpray = "3b8d4e21-7c2e-4a3f-9b55-8e5e3c6d4f03"

// id2seq reports whether an alert is the sequence rule's (by its rule).
func id2seq(t *testing.T, id string, groupOf map[string]string) bool {
	t.Helper()
	return strings.HasPrefix(groupOf[id], successAfterSpray+"/")
}
