package source

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/azdetect/azdetect/internal/event"
)

// idsAgree reports how ids, copying 16 bytes at a time from texts each
// followed by hostile bytes, differs from idsAppended for the same
// values, or "" when they agree; and whether ids wrote past its room.
func idsAgree(texts [6]string, state byte, allowed bool) string {
	// Each text in a buffer of its own, the bytes after it all 0xff,
	// quotes and the separators RecordID uses: what ids copies past a
	// text must never stay in what it writes.
	var padded [6]string
	for i, s := range texts {
		b := []byte(strings.Repeat("\xff\"|:>", 8))
		copy(b, s)
		padded[i] = unsafe.String(&b[0], len(s))
	}
	decision := byte('D')
	if allowed {
		decision = 'A'
	}
	set := func(te *tupleEvent, t [6]string) {
		te.protocol, te.srcIP, te.srcPort, te.dstIP, te.dstPort = t[1], t[2], t[3], t[4], t[5]
		te.state = state
	}
	var guarded struct {
		te    tupleEvent
		guard [64]byte
	}
	for i := range guarded.te.buf {
		guarded.te.buf[i] = 0xfe
	}
	guarded.te.addrsCanonical = true
	set(&guarded.te, padded)
	target, id := guarded.te.ids(padded[0], decision)
	var plain tupleEvent
	set(&plain, texts)
	wantTarget, wantID := plain.idsAppended(texts[0], 0, decision)
	switch {
	case target != wantTarget || id != wantID:
		return "ids " + target + " " + id + ", appended " + wantTarget + " " + wantID
	case *(*byte)(unsafe.Pointer(&guarded.te.addrsCanonical)) != 1 || guarded.guard != [64]byte{}:
		return "ids wrote past its room"
	}
	return ""
}

// TestTupleIDsAgree: ids writes the Target and RecordID idsAppended
// does, for texts of every length it takes (0 to 15 bytes, all at the
// longest too), odd bytes in them, with and without a state; and
// keptProtocols are event.PlainProtocols, each with 16 bytes readable.
func TestTupleIDsAgree(t *testing.T) {
	long := strings.Repeat("9", 15)
	cases := [][6]string{
		{"1795169100", "tcp", "45.137.21.9", "51544", "10.20.1.4", "3389"},
		{"1795169100", "T", "255.255.255.255", "65535", "255.255.255.255", "65535"},
		{long, long, long, long, long, long},
		{"1", "", "", "", "", ""},
		{"1", "\x00\"\\|:>\xff", "a|b", ":", ">", "\u00e9"},
	}
	for n := range 16 {
		s := strings.Repeat("7", n)
		cases = append(cases, [6]string{"1" + s[min(n, 14):], s, s, s, s, s})
	}
	for _, c := range cases {
		for _, state := range []byte{0, 'B', 'E', 0xff} {
			for _, allowed := range []bool{false, true} {
				if d := idsAgree(c, state, allowed); d != "" {
					t.Errorf("%q state %q allowed %v: %s", c, state, allowed, d)
				}
			}
		}
	}
	for i, w := range event.PlainProtocols {
		if keptProtocols[i] != w {
			t.Errorf("keptProtocols[%d] %q, event.PlainProtocols %q", i, keptProtocols[i], w)
		}
		at := uintptr(unsafe.Pointer(unsafe.StringData(keptProtocols[i])))
		if base := uintptr(unsafe.Pointer(unsafe.StringData(protocolSlots))); i > 0 && (at < base || at+16 > base+uintptr(len(protocolSlots))) {
			t.Errorf("keptProtocols[%d] has no 16 bytes of protocolSlots", i)
		}
	}
}

func FuzzTupleIDsAgree(f *testing.F) {
	f.Add("1795169100", "T", "45.137.21.9", "51544", "10.20.1.4", "3389", byte('B'), true)
	f.Add("1663146003", "icmpv6", "255.255.255.255", "1", "0.0.0.0", "65535", byte(0), false)
	f.Fuzz(func(t *testing.T, sec, proto, src, sport, dst, dport string, state byte, allowed bool) {
		texts := [6]string{sec, proto, src, sport, dst, dport}
		for i := range texts {
			texts[i] = texts[i][:min(len(texts[i]), 15)]
		}
		if texts[0] == "" {
			texts[0] = "0"
		}
		if d := idsAgree(texts, state, allowed); d != "" {
			t.Fatalf("%q: %s", texts, d)
		}
	})
}
