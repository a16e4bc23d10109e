package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
)

// referenceFingerprint is Fingerprint as it was: SHA-256 of the bytes in
// one call.
func referenceFingerprint(rule, group string, w time.Time) string {
	b := strings.ToLower(rule) + "\x00" + group + "\x00"
	if !w.IsZero() {
		b += w.UTC().Format(time.RFC3339)
	}
	sum := sha256.Sum256([]byte(b))
	return hex.EncodeToString(sum[:16])
}

// TestFingerprintMidstate: fingerprints continued from a remembered first
// block are the hash of their bytes, whatever the mix of first blocks met
// (more than the cache holds, shorter and longer than a block, one first
// block with many endings) and on several goroutines at once.
func TestFingerprintMidstate(t *testing.T) {
	w := time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)
	prefixes := []string{"", "riskdetection|user risk detection|", "signinlogs|sign-in activity|", strings.Repeat("x", 40), strings.Repeat("é", 50)}
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for i := range 3000 {
				rule := fmt.Sprintf("rule-%d", rng.IntN(2*midstateEntries+3))
				group := prefixes[rng.IntN(len(prefixes))] + strings.Repeat("k", rng.IntN(130)) + fmt.Sprint(rng.IntN(50))
				win := w
				if i%7 == 0 {
					win = time.Time{}
				}
				if got, want := Fingerprint(rule, group, win), referenceFingerprint(rule, group, win); got != want {
					errs <- fmt.Sprintf("Fingerprint(%q, %q, %v) = %s, want %s", rule, group, win, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	long := strings.Repeat("riskdetection|user risk detection|user@contoso.com|", 3)
	if n := testing.AllocsPerRun(100, func() { _ = Fingerprint("fbad3b1d-9276-49fc-a1cc-e304bdec1631", long, w) }); n >= 0.5 {
		t.Errorf("Fingerprint continued from a midstate: %.2f allocations a call", n)
	}
}

// FuzzFingerprint: any rule, group key and window give the reference's id.
func FuzzFingerprint(f *testing.F) {
	f.Add("fbad3b1d-9276-49fc-a1cc-e304bdec1631", "riskdetection|user risk detection|user0568@contoso.com|148.1.147.129|", int64(1763596800))
	f.Add("r", "", int64(0))
	f.Fuzz(func(t *testing.T, rule, group string, sec int64) {
		var w time.Time
		if sec != 0 {
			w = time.Unix(sec%(1<<34), 0)
		}
		for range 2 { // the second from the midstate the first remembered
			if got, want := Fingerprint(rule, group, w), referenceFingerprint(rule, group, w); got != want {
				t.Fatalf("Fingerprint(%q, %q, %v) = %s, want %s", rule, group, w, got, want)
			}
		}
	})
}

// appendRFC3339 writes what time.Time.AppendFormat writes with
// time.RFC3339 in UTC, whatever the zone, year or fraction.
func FuzzAppendRFC3339(f *testing.F) {
	for _, c := range []struct{ sec, nsec int64 }{{0, 0}, {1795161600, 291000000}, {-62135596800, 0}, {-62135596801, 999999999},
		{253402300799, 999999999}, {253402300800, 0}, {-1 << 40, 5}, {1 << 40, 7}, {951782400, 0}} {
		f.Add(c.sec, c.nsec, int32(0))
	}
	f.Add(int64(1795161600), int64(0), int32(-5*3600-1800))
	f.Fuzz(func(t *testing.T, sec, nsec int64, zone int32) {
		tm := time.Unix(sec, nsec).In(time.FixedZone("z", int(zone%(26*3600))))
		want := string(tm.UTC().AppendFormat([]byte("p|"), time.RFC3339))
		if got := string(appendRFC3339([]byte("p|"), tm)); got != want {
			t.Fatalf("%v: %q, want %q", tm, got, want)
		}
	})
}

// Rank's words as written agree with the map of the words in any case;
// other words rank 0.
func TestRankAgrees(t *testing.T) {
	n := 0
	for _, w := range Severities() {
		for _, s := range []string{w, strings.ToUpper(w), strings.ToUpper(w[:1]) + w[1:]} {
			if got, want := Rank(s), severityRank[w]; got != want || want == 0 {
				t.Errorf("Rank(%q) = %d, want %d", s, got, want)
			}
		}
		if Rank(w) <= n {
			t.Errorf("Rank(%q) = %d, not above the word before", w, Rank(w))
		}
		n = Rank(w)
	}
	for _, s := range []string{"", "hig", "high ", "severe", "\xff"} {
		if Rank(s) != 0 {
			t.Errorf("Rank(%q) = %d, want 0", s, Rank(s))
		}
	}
	if !AtLeast("High", SeverityMedium) || AtLeast(SeverityLow, "MEDIUM") {
		t.Error("AtLeast")
	}
}

// TestAppendStampDays: appendStamp's civil date is time's for every day
// of 1600 to 2500 (leap centuries and all) and the years at its edges, at
// a second of the day that moves through the clock; before 0000-03-01 and
// after 9999 it declines.
func TestAppendStampDays(t *testing.T) {
	check := func(tm time.Time) {
		t.Helper()
		got, ok := appendStamp([]byte("p|"), tm)
		if want := tm.Format("p|2006-01-02T15:04:05"); !ok || string(got) != want {
			t.Fatalf("%d: %q %v, want %q", tm.Unix(), got, ok, want)
		}
	}
	start := time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)
	for d := range 900 * 366 {
		check(start.AddDate(0, 0, d).Add(time.Duration(d%86400) * time.Second))
	}
	for d := range 800 {
		check(time.Date(0, 3, 1, 23, 59, 59, 0, time.UTC).AddDate(0, 0, d))
		check(time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -d))
	}
	for _, tm := range []time.Time{time.Date(0, 2, 29, 23, 59, 59, 0, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 12, 31, 0, 0, 0, 0, time.UTC)} {
		if got, ok := appendStamp([]byte("p|"), tm); ok || string(got) != "p|" {
			t.Errorf("%v: %q %v, want it declined", tm, got, ok)
		}
	}
}

// TestMidstateRemembersRepeats: a first block is remembered the second
// time it is met while its key is among the misses, not the first (each
// flow alert's own), and every sum is SHA-256's: from a remembered
// block, a new one, and one met again after another took its slot.
func TestMidstateRemembersRepeats(t *testing.T) {
	var c midstateCache
	remembered := func(b []byte) bool {
		for _, e := range c.entries {
			if e.n > 0 && string(e.block[:]) == string(b[:sha256.BlockSize]) {
				return true
			}
		}
		return false
	}
	sum := func(b []byte) {
		t.Helper()
		var got [sha256.Size]byte
		c.sum(b, &got)
		if got != sha256.Sum256(b) {
			t.Fatalf("sum of %q is not SHA-256's", b)
		}
	}
	block := func(i int) []byte { return []byte(fmt.Sprintf("%064d|and the rest of the key", i)) }
	for i := range 3 * missedBlocks {
		sum(block(i))
		if remembered(block(i)) {
			t.Fatalf("block %d remembered when met once", i)
		}
	}
	slot := func(b []byte) uint64 { return blockKey((*[sha256.BlockSize]byte)(b)) % missedBlocks }
	i := 1
	for slot(block(i)) != slot(block(0)) {
		i++
	}
	c.missed = [missedBlocks]uint64{} // forgotten: block 0 met once
	sum(block(0))
	sum(block(i)) // takes block 0's slot
	sum(block(0))
	if remembered(block(0)) {
		t.Fatal("block 0 remembered when met again after another took its slot")
	}
	b := block(3 * missedBlocks)
	for i := range 4 {
		sum(b)
		if got, want := remembered(b), i > 0; got != want {
			t.Fatalf("met %d times: remembered %t, want %t", i+1, got, want)
		}
	}
	sum(append(b[:sha256.BlockSize:sha256.BlockSize], "another ending"...))
}
