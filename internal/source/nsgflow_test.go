package source

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestNSGFlowGolden(t *testing.T) { runGolden(t, "nsgflowlogs") }

// nsgRecord builds an NSG v2 record of n tuples, a third of them denied.
func nsgRecord(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"time":"2024-08-19T18:00:06.8944384Z","systemId":"05cdbee8-43c6-458e-b53c-d707f958c66b","macAddress":"6045BDEC2532","category":"NetworkSecurityGroupFlowEvent","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/G/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/N","operationName":"NetworkSecurityGroupFlowEvents","properties":{"Version":2,"flows":[{"rule":"DefaultRule_DenyAllInBound","flows":[{"mac":"6045BDEC2532","flowTuples":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		if i%3 == 0 {
			fmt.Fprintf(&b, `"%d,203.0.113.%d,10.1.0.4,%d,%d,T,I,D,B,,,,"`, 1724090346+i, i%250, 1024+i%60000, 1+i%1000)
		} else {
			fmt.Fprintf(&b, `"%d,10.1.0.4,198.51.100.%d,%d,443,T,O,A,E,%d,%d,%d,%d"`, 1724090346+i, i%250, 1024+i%60000, i, i*70, i, i*1400)
		}
	}
	b.WriteString(`]}]}]}}`)
	return []byte(b.String())
}

// TestNSGFlowParseBoundedAllocs parses a record of 5,000 tuples: the parse
// walks every tuple (to count and check them) without allocating per tuple.
func TestNSGFlowParseBoundedAllocs(t *testing.T) {
	reg := newTestRegistry(t)
	allocs := func(raw []byte) float64 {
		return testing.AllocsPerRun(10, func() {
			ev, status, err := reg.Parse(raw)
			if status != Parsed {
				t.Fatalf("%v: %v", status, err)
			}
			if ev.Extra.Value("flow.tuples") == "" {
				t.Fatal("no tuple count")
			}
		})
	}
	small, large := allocs(nsgRecord(10)), allocs(nsgRecord(5000))
	if large > small+4 {
		t.Errorf("parsing 5,000 tuples took %.0f allocations, 10 tuples %.0f", large, small)
	}
	ev, _, _ := reg.Parse(nsgRecord(5000))
	if ev.Extra.Value("flow.tuples") != "5000" || ev.Extra.Value("flow.denied") != "1667" {
		t.Errorf("counts %v", ev.Extra)
	}
}

func FuzzParseNSGFlow(f *testing.F) { fuzzSource(f, nsgFlowSource, "nsgflowlogs") }

// TestAppendFlowStamp: appendFlowStamp writes what AppendFormat does with
// its layout, over fractions with and without trailing zeros, zones,
// and years of other than four digits (left to AppendFormat).
func TestAppendFlowStamp(t *testing.T) {
	east := time.FixedZone("east", 5*3600+1800)
	n := 0
	for _, year := range []int{-1, 0, 1, 999, 1970, 2026, 9999, 10000, 292277026} {
		for _, ns := range []int{0, 1, 99, 100, 1000, 123456700, 123456789, 100000000, 999999999, 500, 10000000} {
			for _, loc := range []*time.Location{time.UTC, east} {
				tm := time.Date(year, time.December, 31, 23, 59, 58, ns, loc)
				if got, want := string(appendFlowStamp([]byte("x"), tm)), tm.AppendFormat([]byte("x"), flowIDStamp); got != string(want) {
					t.Errorf("%v: %q, AppendFormat %q", tm, got, want)
				}
				n++
			}
		}
	}
	if n < 100 {
		t.Fatalf("%d times", n)
	}
}

func FuzzAppendFlowStamp(f *testing.F) {
	f.Add(int64(1795161540), int64(679000000), 0)
	f.Add(int64(-62135596800), int64(0), 3600)
	f.Add(int64(253402300799), int64(999999999), -3600)
	f.Fuzz(func(t *testing.T, sec, nsec int64, offset int) {
		tm := time.Unix(sec, nsec).In(time.FixedZone("z", offset%(48*3600)))
		if got, want := string(appendFlowStamp(nil, tm)), string(tm.AppendFormat(nil, flowIDStamp)); got != want {
			t.Fatalf("%v: %q, AppendFormat %q", tm, got, want)
		}
	})
}
