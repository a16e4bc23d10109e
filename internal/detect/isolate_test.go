package detect_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/source"
	"github.com/azdetect/azdetect/internal/state"
)

// signIns parses testdata/demo/signin.jsonl, with every user agent set to
// ua when ua is not empty.
func signIns(t *testing.T, ua string) []*event.Event {
	t.Helper()
	reg, err := source.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("../../testdata/demo/signin.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var out []*event.Event
	for sc.Scan() {
		line := sc.Text()
		if ua != "" {
			line = withUserAgent(t, line, ua)
		}
		ev, status, err := reg.Parse([]byte(line))
		if status != source.Parsed {
			t.Fatalf("parse: %v %v", status, err)
		}
		out = append(out, ev)
	}
	return out
}

// withUserAgent replaces the value of "userAgent" in a record.
func withUserAgent(t *testing.T, line, ua string) string {
	t.Helper()
	const name = `"userAgent":"`
	i := strings.Index(line, name)
	if i < 0 {
		return line
	}
	j := strings.IndexByte(line[i+len(name):], '"')
	return line[:i+len(name)] + ua + line[i+len(name)+j:]
}

func engineOn(t *testing.T, store state.Store) *detect.Engine {
	t.Helper()
	rules, err := detect.LoadDefault("")
	if err != nil {
		t.Fatal(err)
	}
	eng, err := detect.NewEngine(rules, detect.WithStore(store))
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

func matchKeys(ms []detect.Match) []string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.Rule.ID+" "+m.GroupKey+" "+m.Events[0].RecordID)
	}
	sort.Strings(out)
	return out
}

// TestLongUserAgentChangesNothing: with a 40,000 character user agent on
// every sign-in, every value kept in state is Bounded (a readable prefix
// and a hash), so Evaluate and EvaluateIsolated raise the matches of the
// original file and reject nothing. (Records whose state still cannot be
// kept come back as RecordErrors: TestOversizedSequenceIsARecordError.)
func TestLongUserAgentChangesNothing(t *testing.T) {
	ctx := context.Background()
	want, err := engineOn(t, state.NewMemory()).Evaluate(ctx, signIns(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("A", 40000)
	plain, err := engineOn(t, state.NewMemory()).Evaluate(ctx, signIns(t, long))
	if err != nil {
		t.Fatalf("Evaluate with a 40 KB user agent: %v", err)
	}
	got, rejected, err := engineOn(t, state.NewMemory()).EvaluateIsolated(ctx, signIns(t, long))
	if err != nil {
		t.Fatalf("EvaluateIsolated: %v", err)
	}
	w := strings.Join(matchKeys(want), "\n")
	if g := strings.Join(matchKeys(plain), "\n"); g != w {
		t.Errorf("Evaluate: matches differ\ngot:\n%s\nwant:\n%s", g, w)
	}
	if g := strings.Join(matchKeys(got), "\n"); g != w {
		t.Errorf("EvaluateIsolated: matches differ\ngot:\n%s\nwant:\n%s", g, w)
	}
	if len(rejected) != 0 {
		t.Errorf("%d record(s) rejected, want none: %v", len(rejected), rejected[0])
	}
}

// panicKind panics on the events whose operation is "boom" and matches
// every other one.
type panicKind struct{ detect.MatchKind }

func (panicKind) Matches(ctx context.Context, r *detect.Rule, evs []*event.Event) ([]detect.Match, error) {
	for _, ev := range evs {
		if ev.Operation == "boom" {
			panic("boom")
		}
	}
	return detect.MatchKind{}.Matches(ctx, r, evs)
}

// TestEvaluateIsolatedRecoversPanics: a kind that panics on one record
// rejects that record and matches the others; Evaluate reports the panic
// as an error instead of crashing.
func TestEvaluateIsolatedRecoversPanics(t *testing.T) {
	r, err := detect.ParseRule("boom.yml", []byte("title: t\nid: 11111111-2222-3333-4444-555555555555\nlevel: low\n"+
		"logsource: {product: azure, service: signinlogs}\ndetection:\n  sel:\n    event.category: SignInLogs\n  condition: sel\n"))
	if err != nil {
		t.Fatal(err)
	}
	r.Kind = panicKind{}
	eng, err := detect.NewEngine([]*detect.Rule{r})
	if err != nil {
		t.Fatal(err)
	}
	evs := signIns(t, "")
	base, err := eng.Evaluate(context.Background(), evs)
	if err != nil || len(base) < 8 {
		t.Fatalf("Evaluate: %d matches, %v", len(base), err)
	}
	boom1, boom2 := base[1].Events[0], base[6].Events[0]
	boom1.Operation, boom2.Operation = "boom", "boom"
	if _, err := eng.Evaluate(context.Background(), evs); !errors.Is(err, detect.ErrPanic) {
		t.Fatalf("Evaluate: err = %v, want ErrPanic", err)
	}
	got, rejected, err := eng.EvaluateIsolated(context.Background(), evs)
	if err != nil {
		t.Fatal(err)
	}
	if len(rejected) != 2 || rejected[0].Event != boom1 || rejected[1].Event != boom2 || !errors.Is(rejected[0].Err, detect.ErrPanic) {
		t.Fatalf("rejected %+v", rejected)
	}
	var want []*event.Event // the others, in order
	for _, m := range base {
		if ev := m.Events[0]; ev != boom1 && ev != boom2 {
			want = append(want, ev)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d matches, want %d", len(got), len(want))
	}
	for i, m := range got {
		if m.Events[0] != want[i] {
			t.Fatalf("match %d is event %s, want %s", i, m.Events[0].RecordID, want[i].RecordID)
		}
	}
}

// TestContentFault: what counts as caused by records, and what as a
// dependency failure.
func TestContentFault(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{state.ErrEntityTooLarge, true},
		{state.ErrInvalid, true},
		{&detect.RecordError{Err: errors.New("x")}, true},
		{detect.ErrPanic, true},
		{errors.New("dial tcp: connection refused"), false},
		{&state.ConflictError{}, false},
		{context.Canceled, false},
		{errors.Join(context.DeadlineExceeded, state.ErrInvalid), false},
	} {
		if got := detect.ContentFault(tc.err); got != tc.want {
			t.Errorf("ContentFault(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
