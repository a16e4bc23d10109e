package source

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestRawValidAgrees: an event whose Raw its source's strict decoder
// vouched for (Event.RawValid: a snapshot keeps it unchecked) holds a
// record json.Valid accepts, on every corpus record and hostile variants
// of it: invalid UTF-8 and control bytes in a string, bytes after the
// value, a cut record, a huge value, a duplicate member. Records decoded
// strictly are vouched for (the mark is not simply never set), and a
// Raw cut afterwards is not.
func TestRawValidAgrees(t *testing.T) {
	reg := newTestRegistry(t)
	variants := func(raw []byte) [][]byte {
		out := [][]byte{raw}
		if i := bytes.Index(raw, []byte(`":"`)); i > 0 {
			at := i + 3
			for _, ins := range []string{"\xff\xfe", "\xc3", "\x00", "\x1f", "\t", "\\u00", "\\x", "\\ud800", strings.Repeat("é\xff", 40000)} {
				out = append(out, append(append(append([]byte(nil), raw[:at]...), ins...), raw[at:]...))
			}
		}
		for _, tail := range []string{" ", "\n\t\r ", "x", "}", ",", "{}", "\x00", " 1"} {
			out = append(out, append(bytes.Clone(raw), tail...))
		}
		out = append(out, raw[:len(raw)/2], raw[:len(raw)-1])
		if i := bytes.IndexByte(raw, '{'); i >= 0 {
			// A duplicate member at the front.
			dup := append(append(append([]byte(nil), raw[:i+1]...), `"time":"2026-01-01T00:00:00Z","x":01,`...), raw[i+1:]...)
			out = append(out, dup)
			dup = append(append(append([]byte(nil), raw[:i+1]...), `"time":"2026-01-01T00:00:00Z","time":"2026-01-02T00:00:00Z",`...), raw[i+1:]...)
			out = append(out, dup)
		}
		return out
	}
	marked, parsed := 0, 0
	for _, raw := range decodeCorpus(t) {
		for _, v := range variants(raw) {
			ev, status, _ := reg.Parse(v)
			if status != Parsed {
				continue
			}
			parsed++
			if !ev.RawValid() {
				continue
			}
			marked++
			if !json.Valid(ev.Raw) {
				t.Fatalf("%s: vouched for, json.Valid says no: %q", ev.Source, v)
			}
			if !bytes.Equal(ev.Raw, v) {
				t.Fatalf("%s: vouched-for Raw is not the record", ev.Source)
			}
			ev.Raw = ev.Raw[:len(ev.Raw)-1]
			if ev.RawValid() {
				t.Fatalf("%s: a cut Raw still vouched for", ev.Source)
			}
		}
	}
	if marked == 0 || marked == parsed {
		t.Fatalf("%d of %d parsed records vouched for: want some, not all (storage analytics lines are not JSON)", marked, parsed)
	}
}
