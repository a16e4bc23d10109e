package coverage

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/azdetect/azdetect/internal/event"
)

func TestReportPresentAndMissing(t *testing.T) {
	var tl Tally
	sub := "3B8E6F21-9A4C-4D7E-B5F2-8C1A0E9D6B47"
	add := func(src, cat, rid string, n int) {
		for range n {
			tl.Add(&event.Event{Source: src, Category: cat, Resource: event.ParseResourceID(rid)})
		}
	}
	add("signinlogs", "SignInLogs", "/tenants/7f3c2a91-5d4e-4b8a-9c6f-2e1d0b8a7c35/providers/Microsoft.aadiam", 3)
	add("activitylogs", "Administrative", "/SUBSCRIPTIONS/"+sub+"/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.COMPUTE/VIRTUALMACHINES/VM1", 2)
	add("keyvault", "AuditEvent", "/SUBSCRIPTIONS/"+sub+"/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV", 4)
	add("vnetflowlogs", "FlowLogFlowEvent", "/subscriptions/"+sub+"/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet", 1)

	rep := tl.Report()
	present := map[string]int{}
	for _, s := range rep.Recommended {
		if s.Present {
			present[s.Name] = s.Records
		}
	}
	for name, want := range map[string]int{
		"Entra ID interactive sign-ins": 3, "Activity Log: Administrative": 2, "Key Vault AuditEvent": 4, "NSG or VNet flow logs": 1,
	} {
		if present[name] != want {
			t.Errorf("%s: %d records, want %d", name, present[name], want)
		}
	}
	missing := rep.Missing()
	for _, name := range []string{"Entra ID non-interactive sign-ins", "Entra ID audit logs", "Activity Log: Security", "Storage logs (StorageBlobLogs or $logs)"} {
		if !slices.Contains(missing, name) {
			t.Errorf("missing %v lacks %q", missing, name)
		}
	}
	if len(rep.Subscriptions) != 1 {
		t.Fatalf("subscriptions %+v, want one", rep.Subscriptions)
	}
	s := rep.Subscriptions[0]
	if s.Present["Administrative"] != 2 || !slices.Contains(s.Missing, "Security") || slices.Contains(s.Missing, "Administrative") {
		t.Errorf("subscription status %+v", s)
	}
	if s.ResourceTypes["keyvault microsoft.keyvault/vaults"] != 4 || s.ResourceTypes["activitylogs microsoft.compute/virtualmachines"] != 0 {
		t.Errorf("resource logs %+v: want the vault's, not the Activity Log's", s.ResourceTypes)
	}
	if got := tl.ByCategory()["keyvault/AuditEvent"]; got != 4 {
		t.Errorf("ByCategory keyvault/AuditEvent = %d", got)
	}
	var merged Tally
	merged.Merge(&tl)
	merged.Merge(&tl)
	if got := merged.ByCategory()["signinlogs/SignInLogs"]; got != 6 {
		t.Errorf("merged = %d, want 6", got)
	}
}

// A Tally's rows are copies: the decoders' strings are views into the
// record's bytes, and a row holding one would keep the record alive (and
// change when the bytes are reused).
func TestTallyKeepsCopies(t *testing.T) {
	raw := []byte(`AdministrativeMICROSOFT.COMPUTE`)
	view := func(from, to int) string { return unsafe.String(&raw[from], to-from) }
	var tl Tally
	tl.Add(&event.Event{Source: "activitylogs", Category: view(0, 14), Resource: event.Resource{Subscription: "ab", Provider: view(14, 31), Type: "x"}})
	copy(raw, "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX")
	// The same fields as written, again: counted on the row of the first.
	tl.Add(&event.Event{Source: "activitylogs", Category: "Administrative", Resource: event.Resource{Subscription: "ab", Provider: "MICROSOFT.COMPUTE", Type: "x"}})
	rows := tl.Rows()
	if len(rows) != 1 || rows[0].Category != "Administrative" || rows[0].ResourceType != "microsoft.compute/x" || rows[0].Records != 2 {
		t.Errorf("rows %+v: want the values as they were added, twice", rows)
	}
}

// Counting a record whose fields were seen before allocates nothing: the
// pipeline counts every record.
func TestTallyAddAllocs(t *testing.T) {
	var tl Tally
	ev := &event.Event{Source: "activitylogs", Category: "Administrative",
		Resource: event.ParseResourceID("/SUBSCRIPTIONS/3B8E6F21-9A4C-4D7E-B5F2-8C1A0E9D6B47/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.COMPUTE/VIRTUALMACHINES/VM1")}
	tl.Add(ev)
	if n := testing.AllocsPerRun(100, func() { tl.Add(ev) }); n != 0 {
		t.Errorf("Add of seen fields: %v allocations, want 0", n)
	}
	rows := tl.Rows()
	if len(rows) != 1 || rows[0].Records != 102 || rows[0].Subscription != "3b8e6f21-9a4c-4d7e-b5f2-8c1a0e9d6b47" {
		t.Errorf("rows %+v: want one row of 102 records, subscription lower-cased", rows)
	}
}

// However many distinct rows an input holds, a Tally keeps a bounded
// number of them, and every record stays counted.
func TestTallyBounded(t *testing.T) {
	var tl Tally
	const n = 3*MaxKeys + 100
	for i := range n {
		tl.Add(&event.Event{Source: "activitylogs", Category: "Administrative", Resource: event.Resource{
			Subscription: fmt.Sprintf("sub-%d", i%(MaxKeys+7)), Provider: "MICROSOFT.COMPUTE", Type: fmt.Sprintf("T%d", i),
		}})
	}
	tl.Add(&event.Event{Source: "signinlogs", Category: "SignInLogs"})
	rows := tl.Rows()
	if len(rows) > 2*MaxKeys+2 {
		t.Errorf("%d rows for %d distinct ones, want at most %d", len(rows), n+1, 2*MaxKeys+2)
	}
	if rep := tl.Report(); rep.Recommended[0].Records != 1 {
		t.Errorf("a row added to a full Tally: %s has %d records, want 1", rep.Recommended[0].Name, rep.Recommended[0].Records)
	}
	total, other := 0, 0
	for _, r := range rows {
		total += r.Records
		if r.ResourceType == Other {
			other += r.Records
		}
	}
	if total != n+1 || other == 0 {
		t.Errorf("counted %d records (%d under %q), want %d", total, other, Other, n+1)
	}
	if got := tl.ByCategory()["signinlogs/SignInLogs"]; got != 1 {
		t.Errorf("a row added to a full Tally: signinlogs/SignInLogs = %d, want 1", got)
	}
	var merged Tally
	merged.Merge(&tl)
	merged.Merge(&tl)
	if len(merged.Rows()) > 2*MaxKeys+2 {
		t.Errorf("merged: %d rows, want at most %d", len(merged.Rows()), 2*MaxKeys+2)
	}
}

// A row first seen is cut from a chunk its Tally shares with the rows
// before it, not an allocation of its own: an Activity Log's resource
// types are many.
func TestTallyNewRowAllocs(t *testing.T) {
	const n = 1000
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = event.Event{Source: "activitylogs", Category: "Administrative", Resource: event.Resource{
			Subscription: "3B8E6F21-9A4C-4D7E-B5F2-8C1A0E9D6B47", Provider: "MICROSOFT.AUTHORIZATION", Type: fmt.Sprintf("ROLEASSIGNMENTS/res-%d", i)}}
	}
	var tl Tally
	tl.Add(&evs[0])
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.Mallocs
	for i := 1; i < n; i++ {
		tl.Add(&evs[i])
	}
	runtime.ReadMemStats(&ms)
	if per := float64(ms.Mallocs-before) / (n - 1); per > 0.3 {
		t.Errorf("a new row: %.2f allocations, want at most 0.3", per)
	}
	if rows := tl.Rows(); len(rows) != n {
		t.Fatalf("%d rows, want %d", len(rows), n)
	}
}

// lessLower orders as comparing strings.ToLower's copies does, non-ASCII,
// invalid UTF-8 and prefixes included.
func TestLessLower(t *testing.T) {
	words := []string{"", "a", "A", "ab", "aB", "b", "Administrative", "administrativE", "SignInLogs", "signinlogs2",
		"É", "é", "éa", "Ea", "\xff", "a\xff", "A\xffb", "ſ", "s", "S", "K", "\u212a", "Z", "[", "_", "`", "z{"}
	for _, a := range words {
		for _, b := range words {
			if got, want := lessLower(a, b), strings.ToLower(a) < strings.ToLower(b); got != want {
				t.Errorf("lessLower(%q, %q) = %v, want %v", a, b, got, want)
			}
		}
	}
}

func FuzzLessLower(f *testing.F) {
	f.Add("Administrative", "administrativE2")
	f.Add("a\xff", "A")
	f.Fuzz(func(t *testing.T, a, b string) {
		if got, want := lessLower(a, b), strings.ToLower(a) < strings.ToLower(b); got != want {
			t.Errorf("lessLower(%q, %q) = %v, want %v", a, b, got, want)
		}
	})
}

// EachKey gives the keys Rows gives, each once, in the order counted.
func TestTallyEachKey(t *testing.T) {
	var tl Tally
	for _, ev := range []*event.Event{
		{Source: "signinlogs", Category: "SignInLogs"},
		{Source: "activitylogs", Category: "Administrative", Resource: event.Resource{Subscription: "b"}},
		{Source: "activitylogs", Category: "administrative", Resource: event.Resource{Subscription: "a"}},
		{Source: "signinlogs", Category: "SignInLogs"},
		{Source: "activitylogs", Category: "Policy", Resource: event.Resource{Subscription: "b"}},
	} {
		tl.Add(ev)
	}
	var got []Key
	tl.EachKey(func(k Key) { got = append(got, k) })
	rows := tl.Rows()
	if len(got) != len(rows) {
		t.Fatalf("EachKey %d keys, Rows %d", len(got), len(rows))
	}
	for _, r := range rows {
		n := 0
		for _, k := range got {
			if k == r.Key {
				n++
			}
		}
		if n != 1 {
			t.Errorf("key %+v: %d times in EachKey, want once", r.Key, n)
		}
	}
	if got[0].Source != "signinlogs" || got[1].Subscription != "b" || got[2].Subscription != "a" {
		t.Errorf("EachKey %+v: want the order counted", got)
	}
}

// plainTally is what a Tally counts, written plainly: every record's row
// built with strings.ToLower and looked up in a map, folded as Add
// documents when the row is new and the Tally full.
type plainTally struct {
	idx  map[Key]int
	keys []Key
	n    []int
}

func (p *plainTally) add(ev *event.Event) {
	r := ev.Resource
	k := Key{Source: ev.Source, Category: ev.Category, Subscription: strings.ToLower(r.Subscription)}
	if r.Provider != "" || r.Type != "" {
		k.ResourceType = strings.ToLower(strings.Trim(r.Provider+"/"+r.Type, "/"))
	}
	p.addKey(k, 1)
}

func (p *plainTally) addKey(k Key, n int) {
	if p.idx == nil {
		p.idx = map[Key]int{}
	}
	i, ok := p.idx[k]
	if !ok && len(p.keys) >= MaxKeys && k.ResourceType != "" {
		k.ResourceType = Other
		i, ok = p.idx[k]
	}
	if !ok && len(p.keys) >= 2*MaxKeys {
		k.Subscription, k.ResourceType = Other, Other
		i, ok = p.idx[k]
	}
	if !ok {
		i = len(p.keys)
		p.idx[k] = i
		p.keys = append(p.keys, k)
		p.n = append(p.n, 0)
	}
	p.n[i] += n
}

// agree fails t unless tl counted what p did: the same rows, first
// counted in the same order, with the same records.
func agree(t *testing.T, when string, tl *Tally, p *plainTally) {
	t.Helper()
	var keys []Key
	tl.EachKey(func(k Key) { keys = append(keys, k) })
	if !slices.Equal(keys, p.keys) {
		for i := range min(len(keys), len(p.keys)) {
			if keys[i] != p.keys[i] {
				t.Fatalf("%s: row %d is %+v, want %+v (%d rows, want %d)", when, i, keys[i], p.keys[i], len(keys), len(p.keys))
			}
		}
		t.Fatalf("%s: %d rows, want %d", when, len(keys), len(p.keys))
	}
	rows := tl.Rows()
	if len(rows) != len(p.keys) {
		t.Fatalf("%s: Rows %d, want %d", when, len(rows), len(p.keys))
	}
	for _, r := range rows {
		if want := p.n[p.idx[r.Key]]; r.Records != want {
			t.Fatalf("%s: row %+v has %d records, want %d", when, r.Key, r.Records, want)
		}
	}
}

// TestTallyAgreesWithMap: Add's fast paths (the last fields, the table of
// fields seen, the table of rows, hashes of one copy or of each field)
// count what a map of plainly built rows does, for hostile fields (huge,
// invalid UTF-8, non-ASCII that lower-cases longer, slashes to trim,
// fields whose bytes run on into the next), past the table of fields
// seen and both folds of a full Tally, and across Merge; with hashes as
// they are, and cut to three bits (fields compared on every look-up).
func TestTallyAgreesWithMap(t *testing.T) {
	for _, bits := range []uint64{^uint64(0), 7} {
		t.Run(fmt.Sprintf("hash bits %x", bits), func(t *testing.T) {
			defer func(b uint64) { hashBits = b }(hashBits)
			hashBits = bits
			tallyAgreesWithMap(t)
		})
	}
}

func tallyAgreesWithMap(t *testing.T) {
	huge := strings.Repeat("Ⱥ/x\xff", 600)
	sources := []string{"activitylogs", "signinlogs", "keyvault", "", "a\xffb", "ab", "a", huge[:301]}
	cats := []string{"Administrative", "administrative", "ADMINISTRATIVE", "", "b", "bc", "c", "É\xc3", strings.Repeat("Cat", 60)}
	subs := []string{"3B8E6F21-9A4C-4D7E-B5F2-8C1A0E9D6B47", "3b8e6f21-9a4c-4d7e-b5f2-8c1a0e9d6b47", "", "c", "\xff\xfe", "ȺȺ", huge}
	provs := []string{"MICROSOFT.COMPUTE", "Microsoft.Compute", "", "/", "//", "Microsoft.Compute/", "/Ⱥ", "\x00", strings.Repeat("P", 155)}
	types := []string{"VIRTUALMACHINES", "virtualMachines/", "", "/", "a/b", "/x/", "\xc0\xaf", "İ", strings.Repeat("t", 159), strings.Repeat("T", 5000)}
	rnd := rand.New(rand.NewPCG(12, 34))
	pick := func(s []string) string { return s[rnd.IntN(len(s))] }
	var tl Tally
	var p plainTally
	count := func(ev *event.Event) {
		// Fields that are views into bytes reused after Add, as a
		// decoder's are.
		all := []byte(ev.Source + ev.Category + ev.Resource.Subscription + ev.Resource.Provider + ev.Resource.Type)
		buf := all
		cut := func(s string) string {
			v := unsafe.String(unsafe.SliceData(buf), len(s))
			buf = buf[len(s):]
			return v
		}
		view := event.Event{Source: cut(ev.Source), Category: cut(ev.Category)}
		view.Resource.Subscription, view.Resource.Provider, view.Resource.Type = cut(ev.Resource.Subscription), cut(ev.Resource.Provider), cut(ev.Resource.Type)
		tl.Add(&view)
		p.add(ev)
		clear(all)
	}
	random := func() event.Event {
		return event.Event{Source: pick(sources), Category: pick(cats), Resource: event.Resource{Subscription: pick(subs), Provider: pick(provs), Type: pick(types)}}
	}
	// Runs of one record's fields, and fields seen before, in any order.
	var recent []event.Event
	for range 20000 {
		ev := random()
		if len(recent) > 0 && rnd.IntN(3) == 0 {
			ev = recent[rnd.IntN(len(recent))]
		}
		for range 1 + rnd.IntN(3) {
			count(&ev)
		}
		if len(recent) < 50 {
			recent = append(recent, ev)
		} else {
			recent[rnd.IntN(len(recent))] = ev
		}
	}
	agree(t, "hostile fields", &tl, &p)

	// The same bytes cut at other places make other fields.
	tl2, p2 := Tally{}, plainTally{}
	for _, ev := range []event.Event{
		{Source: "ab", Category: "c"}, {Source: "a", Category: "bc"}, {Source: "a", Category: "b", Resource: event.Resource{Subscription: "c"}},
		{Source: "ab", Category: "c"}, {Source: "a", Category: "bc"}, {Source: "a", Category: "b", Resource: event.Resource{Provider: "c"}},
		{Source: "a", Category: "b", Resource: event.Resource{Type: "c"}}, {Source: "a", Category: "b", Resource: event.Resource{Subscription: "c"}},
	} {
		tl2.Add(&ev)
		p2.add(&ev)
	}
	agree(t, "fields cut at other places", &tl2, &p2)

	// Fields of 160 bytes together, and of 161, on either side of the
	// one-copy hash.
	for n := 155; n <= 166; n++ {
		for range 2 {
			ev := event.Event{Source: "s", Category: "c", Resource: event.Resource{Subscription: "d", Provider: "p", Type: strings.Repeat("y", n-4)}}
			tl2.Add(&ev)
			p2.add(&ev)
		}
	}
	agree(t, "160 bytes or so", &tl2, &p2)

	// Many distinct rows: past maxSeen fields and both folds, with fields
	// seen before (and rows folded before) coming back between them.
	for i := range maxSeen + 2*MaxKeys {
		ev := event.Event{Source: "activitylogs", Category: pick(cats[:3]), Resource: event.Resource{
			Subscription: fmt.Sprintf("SUB-%d", i%(MaxKeys/2+3)), Provider: "MICROSOFT.AUTHORIZATION", Type: fmt.Sprintf("ROLEASSIGNMENTS/res-%d", i)}}
		count(&ev)
		if i%5 == 0 {
			old := random()
			count(&old)
		}
		if i%7 == 0 {
			old := event.Event{Source: "activitylogs", Category: "Administrative", Resource: event.Resource{
				Subscription: fmt.Sprintf("sub-%d", i/7%(MaxKeys/2+3)), Provider: "Microsoft.Authorization", Type: fmt.Sprintf("roleAssignments/RES-%d", i/7)}}
			count(&old)
		}
	}
	agree(t, "many distinct rows", &tl, &p)

	// Merge forgets the fields seen: what comes after counts as the
	// merged rows say.
	var merged Tally
	var pm plainTally
	for _, from := range []struct {
		tl *Tally
		p  *plainTally
	}{{&tl2, &p2}, {&tl, &p}} {
		merged.Merge(from.tl)
		for i, k := range from.p.keys {
			pm.addKey(k, from.p.n[i])
		}
		for range 3000 {
			ev := random()
			merged.Add(&ev)
			pm.add(&ev)
		}
	}
	agree(t, "merged", &merged, &pm)
	// What was merged from is as it was (a merge into an empty Tally
	// copies it, and shares nothing it writes).
	agree(t, "merged from", &tl2, &p2)
	agree(t, "merged from", &tl, &p)
	for range 3000 {
		ev := random()
		tl2.Add(&ev)
		p2.add(&ev)
	}
	agree(t, "merged from, added to after", &tl2, &p2)
	agree(t, "merged, after its first added to", &merged, &pm)
}
