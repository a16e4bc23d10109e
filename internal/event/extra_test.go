package event

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"slices"
	"strings"
	"testing"
)

// TestExtra: Extra answers as the map it replaces did: the last value set
// for a name, nothing for an empty value, a sorted JSON object.
func TestExtra(t *testing.T) {
	ev := NewEvent(2)
	ev.SetAll("b", "1", "a", "", "c", "3")
	ev.Set("b", "2")
	ev.Set("d", "")
	ev.Set("a", "4") // past the room made: grows
	for name, want := range map[string]string{"a": "4", "b": "2", "c": "3", "d": ""} {
		got, ok := ev.Extra.Lookup(name)
		if got != want || ok != (want != "") {
			t.Errorf("Lookup(%q) = %q, %v; want %q", name, got, ok, want)
		}
		if v, ok := ev.Normalised(name); v != want || ok != (want != "") {
			t.Errorf("Normalised(%q) = %q, %v", name, v, ok)
		}
	}
	if ev.Extra.Len() != 3 {
		t.Errorf("Len = %d, want 3", ev.Extra.Len())
	}
	b, err := json.Marshal(ev.Extra)
	if err != nil || string(b) != `{"a":"4","b":"2","c":"3"}` {
		t.Errorf("JSON %s, %v", b, err)
	}
	// SetAll replaces the values of names set before it, as Set does.
	ev.SetAll("c", "5", "e", "6", "a", "")
	if ev.Extra.Value("c") != "5" || ev.Extra.Value("e") != "6" || ev.Extra.Value("a") != "4" || ev.Extra.Len() != 4 {
		t.Errorf("SetAll after Set: %v", ev.Extra.kv)
	}
	var back Extra
	if err := json.Unmarshal(b, &back); err != nil || back.Value("a") != "4" || back.Len() != 3 {
		t.Errorf("unmarshal: %v %v", back, err)
	}
	if b, _ := json.Marshal(Extra{}); string(b) != "null" {
		t.Errorf("empty Extra is %s", b)
	}
}

// TestNewEventRoom: an event made with room for its values takes them
// without another allocation.
func TestNewEventRoom(t *testing.T) {
	for _, n := range []int{0, 3, 7, 12, 17, 30} {
		kv := make([]string, 0, 2*n)
		for i := range n {
			kv = append(kv, string(rune('a'+i)), "v")
		}
		allocs := testing.AllocsPerRun(100, func() {
			ev := NewEvent(n)
			ev.SetAll(kv...)
			if ev.Extra.Len() != n {
				t.Fatalf("%d values, want %d", ev.Extra.Len(), n)
			}
		})
		want := 1.0
		if n > 18 {
			want = 2
		}
		if allocs != want {
			t.Errorf("NewEvent(%d) and SetAll: %.0f allocations, want %.0f", n, allocs, want)
		}
	}
}

// TestSlab: a Slab's events are distinct, each with its own room, and
// come a run at a time: fewer allocations than events.
func TestSlab(t *testing.T) {
	var s Slab
	seen := map[*Event]bool{}
	var evs []*Event
	for i := range 100 {
		ev := s.NewEvent(i % 20)
		if seen[ev] || ev.Extra.Len() != 0 || ev.Source != "" {
			t.Fatalf("event %d reused or not empty", i)
		}
		seen[ev] = true
		ev.Source = string(rune('a' + i%26))
		ev.SetAll("n", ev.Source)
		evs = append(evs, ev)
	}
	for i, ev := range evs {
		if want := string(rune('a' + i%26)); ev.Source != want || ev.Extra.Value("n") != want || ev.Extra.Len() != 1 {
			t.Errorf("event %d: %q %q", i, ev.Source, ev.Extra.Value("n"))
		}
	}
	var s2 Slab
	if n := testing.AllocsPerRun(1, func() {
		for range 64 {
			s2.NewEvent(10).SetAll("a", "1", "b", "2")
		}
	}); n > 8 {
		t.Errorf("64 events: %.0f allocations", n)
	}
}

// TestSlabCopy: a Slab's copies of records are equal to them, independent
// of the bytes copied and of each other (an append to one cannot reach the
// next), a record over the chunk's eighth copied on its own, and many
// small ones take few allocations.
func TestSlabCopy(t *testing.T) {
	var s Slab
	var recs, copies [][]byte
	for i := range 200 {
		b := []byte(strings.Repeat(string(rune('a'+i%26)), 1+i*37%700))
		if i == 150 {
			b = make([]byte, rawChunk) // on its own
		}
		c := s.Copy(b)
		if string(c) != string(b) || cap(c) != len(c) {
			t.Fatalf("record %d: copy of %d bytes has %d (cap %d), equal %v", i, len(b), len(c), cap(c), string(c) == string(b))
		}
		recs, copies = append(recs, bytes.Clone(b)), append(copies, c)
		clear(b) // the caller's buffer, reused
		_ = append(c, "XXXXXXXX"...)
	}
	for i := range recs {
		if !bytes.Equal(recs[i], copies[i]) {
			t.Fatalf("record %d changed after later copies", i)
		}
	}
	if c := s.Copy([]byte{}); c == nil || len(c) != 0 {
		t.Errorf("Copy of an empty record: %v", c)
	}
	if c := s.Copy(nil); c != nil {
		t.Errorf("Copy(nil) = %v, want nil", c)
	}
	rec := bytes.Repeat([]byte("x"), 1000)
	var s2 Slab
	if n := testing.AllocsPerRun(1, func() {
		for range 64 {
			s2.Copy(rec)
		}
	}); n > 3 {
		t.Errorf("64 records of 1,000 bytes: %.0f allocations", n)
	}
}

// FuzzExtraLookupAgreesWithScan: Lookup's filter by name length (lens)
// passes over no name that is set: whatever names Set, SetAll and
// ExtraOf took (lengths 64 apart share a bit), Lookup finds what a scan
// of All finds, and nothing for a name not set.
func FuzzExtraLookupAgreesWithScan(f *testing.F) {
	f.Add("signin.client_app,signin.risk_state,a", "properties.status.errorCode,a,b")
	f.Add(strings.Repeat("x", 64)+","+strings.Repeat("y", 128)+",z", strings.Repeat("q", 64)+",,"+strings.Repeat("y", 128))
	f.Add("a,a,,b", "A,b,")
	f.Fuzz(func(t *testing.T, set, probe string) {
		names := strings.Split(set, ",")
		ev := NewEvent(len(names) / 2)
		var kv []string
		m := map[string]string{}
		for i, n := range names {
			v := strings.Repeat("v", i%3) // some empty: not set
			if i%2 == 0 {
				ev.Set(n, v)
			} else {
				kv = append(kv, n, v)
			}
			if v != "" {
				m[n] = v
			}
		}
		ev.SetAll(kv...)
		scan := func(x Extra, name string) (string, bool) {
			for n, v := range x.All() {
				if n == name {
					return v, true
				}
			}
			return "", false
		}
		if len(m) > 0 && ev.Extra.Len() == 0 {
			t.Fatalf("nothing set of %q", kv)
		}
		for _, x := range []Extra{ev.Extra, ExtraOf(m)} {
			for _, name := range append(names, strings.Split(probe, ",")...) {
				wv, wok := scan(x, name)
				if gv, gok := x.Lookup(name); gv != wv || gok != wok {
					t.Fatalf("Lookup(%q) = %q, %v; a scan finds %q, %v (names %q)", name, gv, gok, wv, wok, names)
				}
			}
		}
	})
}

// FuzzSetAllAgreesWithSet: SetAll of distinct names leaves the values, in
// their order, that Set of each pair in turn leaves, whatever the room
// the event was made with and whatever was set before it.
func FuzzSetAllAgreesWithSet(f *testing.F) {
	f.Add("a,b,c", "b,,d,e", 0)
	f.Add("", "x,1,y,,z,3", 3)
	f.Add("a", "a,,a2,v,b", 18)
	f.Fuzz(func(t *testing.T, pre, pairs string, room int) {
		room = max(room%40, 0)
		one, all := NewEvent(room), NewEvent(room)
		for _, n := range strings.Split(pre, ",") {
			one.Set(n, "p"+n)
			all.Set(n, "p"+n)
		}
		var kv []string
		seen := map[string]bool{}
		for i, n := range strings.Split(pairs, ",") {
			if seen[n] {
				continue // SetAll's names are distinct
			}
			seen[n] = true
			v := strings.Repeat("v", i%3) // some empty: not set
			kv = append(kv, n, v)
			one.Set(n, v)
		}
		if len(kv) > 0 && room%2 == 1 {
			kv = kv[:len(kv)-1] // a name without its value is ignored
			one = NewEvent(room)
			for _, n := range strings.Split(pre, ",") {
				one.Set(n, "p"+n)
			}
			for i := 0; i+1 < len(kv); i += 2 {
				one.Set(kv[i], kv[i+1])
			}
		}
		all.SetAll(kv...)
		if !slices.Equal(one.Extra.kv, all.Extra.kv) || one.Extra.lens != all.Extra.lens {
			t.Fatalf("SetAll(%q) after %q (room %d): %q, Set of each: %q", kv, pre, room, all.Extra.kv, one.Extra.kv)
		}
	})
}

// TestExtraFilterAgrees: Lookup behind its filter (nameBits) answers as a
// plain scan of the names set, for names of any bytes: empty, long,
// invalid UTF-8, bytes 32 apart (one bit of the filter), names sharing a
// length, a first or a last byte with the ones set; the Extra made by
// Set, SetAll and ExtraOf.
func TestExtraFilterAgrees(t *testing.T) {
	rnd := rand.New(rand.NewSource(1))
	name := func() string {
		switch rnd.Intn(6) {
		case 0:
			return ""
		case 1:
			return strings.Repeat("x", 30+rnd.Intn(80)) + string(rune('a'+rnd.Intn(3)))
		case 2:
			b := make([]byte, rnd.Intn(5))
			rnd.Read(b)
			return string(b) + "\xff"
		}
		b := make([]byte, 1+rnd.Intn(40))
		for i := range b {
			b[i] = "abcdeSPD.\x00\x80\xc3"[rnd.Intn(12)]
		}
		return string(b)
	}
	// The plain scan: the first pair of the name.
	plain := func(x Extra, n string) (string, bool) {
		for i := 0; i+1 < len(x.kv); i += 2 {
			if x.kv[i] == n {
				return x.kv[i+1], true
			}
		}
		return "", false
	}
	for range 2000 {
		m := map[string]string{}
		var kv []string
		ev := NewEvent(rnd.Intn(20))
		for range rnd.Intn(20) {
			n, v := name(), []string{"", "v", "w"}[rnd.Intn(3)]
			kv = append(kv, n, v)
			if v != "" {
				m[n] = v
			}
			if rnd.Intn(2) == 0 {
				ev.Set(n, v)
			}
		}
		ev.SetAll(kv...)
		var probes []string
		for n := range m {
			probes = append(probes, n, n[:len(n)/2], n+"a", "a"+n)
			if n != "" {
				// The same length and last byte, another first one.
				probes = append(probes, string(n[0]^1)+n[1:])
			}
		}
		for range 30 {
			probes = append(probes, name())
		}
		if len(m) > 0 && ev.Extra.Len() == 0 {
			t.Fatalf("nothing set of %q", kv)
		}
		for _, x := range []Extra{ev.Extra, ExtraOf(m)} {
			for _, p := range probes {
				v, ok := x.Lookup(p)
				wv, wok := plain(x, p)
				if v != wv || ok != wok {
					t.Fatalf("Lookup(%q) = %q, %t; a scan of %q finds %q, %t", p, v, ok, x.kv, wv, wok)
				}
			}
		}
	}
}
