package archive

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/azdetect/azdetect/internal/source"
)

// frame runs a frontier over a range and returns what it passed on, the
// records the framer cuts from that, and how far the cursor moves.
func frame(t *testing.T, rng string, framing Framing, atStart bool) (string, []string, int64, Framing) {
	t.Helper()
	f := newFrontier(iotest.OneByteReader(strings.NewReader(rng)), framing, atStart)
	out, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	var recs []string
	if err := source.Records(bytes.NewReader(out), func(r source.Record) error {
		if r.Err != nil {
			t.Errorf("malformed record %q: %v", r.Bytes, r.Err)
		}
		recs = append(recs, string(r.Bytes))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return string(out), recs, f.Consumed(), f.Framing()
}

func TestFrontierLines(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rng      string
		framing  Framing
		atStart  bool
		records  int
		consumed int64
	}{
		{"complete lines", "{\"a\":1}\n{\"a\":2}\n", FramingUnknown, true, 2, 16},
		{"stops at the last newline", "{\"a\":1}\n{\"a\":", FramingUnknown, true, 1, 8},
		{"a half line only", "{\"a\":", FramingLines, false, 0, 0},
		{"from a line end", "{\"a\":3}\n{\"a\":4}", FramingLines, false, 1, 8},
		{"text lines", "1.0;2026-11-20T09:00:00Z;GetBlob\n2.0;x", FramingUnknown, true, 1, 33},
		{"crlf and bom", "\xef\xbb\xbf{\"a\":1}\r\n", FramingUnknown, true, 1, 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, recs, consumed, fr := frame(t, tc.rng, tc.framing, tc.atStart)
			if len(recs) != tc.records || consumed != tc.consumed {
				t.Errorf("records %q, consumed %d; want %d records, consumed %d", recs, consumed, tc.records, tc.consumed)
			}
			if fr != FramingLines {
				t.Errorf("framing %q, want lines", fr)
			}
		})
	}
}

// A flow-log document as Network Watcher commits it: a prefix block, one
// block per record (after the first, each starts with a comma), a closing
// block.
func TestFrontierRecordsDocument(t *testing.T) {
	const (
		prefix = `{"records":[`
		r1     = `{"time":"1","s":"a]}\"{"}`
		r2     = `,{"time":"2","n":{"x":[1,2]}}`
		r3     = `,{"time":"3"}`
		suffix = `]}`
	)
	doc1 := prefix + r1 + r2 + suffix
	out, recs, consumed, fr := frame(t, doc1, FramingUnknown, true)
	if fr != FramingRecords || len(recs) != 2 || consumed != int64(len(prefix+r1+r2)) {
		t.Fatalf("first read: framing %q, records %q, consumed %d (out %q)", fr, recs, consumed, out)
	}
	// The list is committed again with r3 before the closing block: the
	// next range starts where the cursor stopped.
	doc2 := prefix + r1 + r2 + r3 + suffix
	_, recs, consumed2, _ := frame(t, doc2[consumed:], FramingRecords, false)
	if len(recs) != 1 || recs[0] != `{"time":"3"}` || consumed2 != int64(len(r3)) {
		t.Fatalf("second read: records %q, consumed %d", recs, consumed2)
	}
	// Nothing new: only the closing block.
	_, recs, consumed3, _ := frame(t, suffix, FramingRecords, false)
	if len(recs) != 0 || consumed3 != 0 {
		t.Fatalf("closing block alone: records %q, consumed %d", recs, consumed3)
	}
}

func TestFrontierRecordsIncomplete(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rng      string
		atStart  bool
		framing  Framing
		records  int
		consumed int64
		want     Framing
	}{
		{"prefix not whole yet", `{"reco`, true, FramingUnknown, 0, 0, FramingUnknown},
		{"prefix only", ` {"records" : [`, true, FramingUnknown, 0, 15, FramingRecords},
		{"element cut in a string", `{"records":[{"a":"x}`, true, FramingUnknown, 0, 12, FramingRecords},
		{"one whole, one cut", `{"records":[{"a":1},{"b":`, true, FramingUnknown, 1, 19, FramingRecords},
		{"mid document, scalars", `,1,"two",{"c":3}]}`, false, FramingRecords, 3, 16, FramingRecords},
		{"not a records document", `{"time":"x","records":1}` + "\n", true, FramingUnknown, 1, 25, FramingLines},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFrontier(strings.NewReader(tc.rng), tc.framing, tc.atStart)
			out, err := io.ReadAll(f)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			_ = source.Records(bytes.NewReader(out), func(r source.Record) error {
				if r.Err != nil {
					t.Errorf("malformed %q: %v", r.Bytes, r.Err)
				}
				n++
				return nil
			})
			if n != tc.records || f.Consumed() != tc.consumed || f.Framing() != tc.want {
				t.Errorf("records %d, consumed %d, framing %q (out %q); want %d, %d, %q",
					n, f.Consumed(), f.Framing(), out, tc.records, tc.consumed, tc.want)
			}
		})
	}
}

func TestBlockList(t *testing.T) {
	blocks := []block{{"p", 12}, {"r1", 100}, {"r2", 50}, {"end", 2}}
	if n, size, last := blocksBefore(blocks, 162); n != 3 || size != 162 || last != "r2" {
		t.Errorf("blocksBefore(162) = %d, %d, %q", n, size, last)
	}
	if n, size, _ := blocksBefore(blocks, 100); n != 1 || size != 12 {
		t.Errorf("blocksBefore(100) = %d, %d: a block read partly does not count", n, size)
	}
	cur := Cursor{Blocks: 3, BlockBytes: 162, LastBlock: "r2"}
	grown := []block{{"p", 12}, {"r1", 100}, {"r2", 50}, {"r3", 70}, {"end2", 2}}
	if !prefixIntact(cur, grown) {
		t.Error("new blocks committed before the closing one: prefix should be intact")
	}
	if prefixIntact(cur, []block{{"p", 12}, {"x", 100}, {"y", 50}}) {
		t.Error("a rewritten list with the same sizes but other ids: not intact")
	}
	if prefixIntact(cur, []block{{"p", 12}, {"r1", 100}}) {
		t.Error("fewer blocks than read: not intact")
	}
	if !prefixIntact(Cursor{}, nil) {
		t.Error("nothing read yet: intact")
	}
}

func TestHourOf(t *testing.T) {
	for _, tc := range []struct {
		container, name, want string
		kind                  Kind
	}{
		{"insights-activity-logs", "resourceId=/SUBSCRIPTIONS/X/y=2026/m=11/d=20/h=09/m=00/PT1H.json", "2026-11-20T09:00:00Z", KindActivityLog},
		{"insights-logs-networksecuritygroupflowevent", "resourceId=/SUBSCRIPTIONS/X/RESOURCEGROUPS/G/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/N/y=2026/m=11/d=20/h=23/m=00/macAddress=000D3A/PT1H.json", "2026-11-20T23:00:00Z", KindFlowLog},
		{"insights-logs-auditevent", "resourceId=/SUBSCRIPTIONS/X/y=2026/m=13/d=20/h=09/m=00/PT1H.json", "", KindResourceLog},
		{"$logs", "blob/2026/11/20/0900/000001.log", "2026-11-20T09:00:00Z", KindStorageAnalytics},
		{"exports", "anything.json", "", KindOther},
	} {
		got, ok := HourOf(tc.container, tc.name)
		s := ""
		if ok {
			s = got.Format("2006-01-02T15:04:05Z07:00")
		}
		if s != tc.want || KindOf(tc.container) != tc.kind {
			t.Errorf("%s/%s: hour %q kind %q; want %q %q", tc.container, tc.name, s, KindOf(tc.container), tc.want, tc.kind)
		}
	}
}
