package detect

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/pipeline/benchcorpus"
	"github.com/azdetect/azdetect/internal/source"
)

// The index seeded from the layout the source's decoder kept
// (event.Layout) must answer exactly what event.Lookup answers, for every
// member path of the record and for the rules' paths.
func TestLayoutIndexAgreesWithLookup(t *testing.T) {
	reg, err := source.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	var raws [][]byte
	for _, r := range benchcorpus.Generate(400) {
		raws = append(raws, r.Line)
	}
	files, _ := filepath.Glob("../../testdata/*/*.json*")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil || strings.HasSuffix(f, ".golden.json") {
			continue
		}
		_ = source.Records(strings.NewReader(string(b)), func(rec source.Record) error {
			raws = append(raws, append([]byte(nil), rec.Bytes...))
			return nil
		})
	}
	// Names with dots beside the names they begin with, in both orders,
	// and names differing in case only: found in document order.
	raws = append(raws,
		[]byte(`{"time":"2026-11-20T10:00:00Z","category":"Administrative","operationName":"x","a.b":{"c":1},"a":{"b":{"c":2},"B":{"c":3}},"A":{"b":{"c":4}},"properties":{"x.y":1,"x":{"y":2},"X.Y":3}}`),
		[]byte(`{"time":"2026-11-20T10:00:00Z","category":"Administrative","operationName":"x","a":{"b":{"c":2}},"a.b":{"c":1},"a.b.c":0,"properties":{"X":{"Y":2},"x.y":1}}`),
		// Names a path table passes over by their length and first
		// byte (resolve), or not: the same length and first byte,
		// another last one; case folding beyond ASCII (Kelvin sign, long s,
		// dotless and dotted i, sigma: Σ and σ differ in their first
		// byte), in the first, last and middle bytes.
		[]byte("{\"time\":\"2026-11-20T10:00:00Z\",\"category\":\"Administrative\",\"operationName\":\"x\",\"properties\":{"+
			"\"status\":1,\"statuS\":2,\"statua\":3,\"ztatus\":4,\"\u017ftatus\":5,\"statu\u017f\":6,\"kind\":7,\"\u212aind\":8,\"kin\u212a\":9,"+
			"\"\u0131d\":10,\"\u0130d\":11,\"id\":12,\"caf\u00e9\":13,\"CAF\u00c9\":14,\"k\":{\"\u212a\":15},\"\u212a\":{\"k\":16},\"\u03c3x\":17,\"x\u03c3\":18,\"\u212ass\":19,\"ss\u212a\":20}}"),
		[]byte("{\"time\":\"2026-11-20T10:00:00Z\",\"category\":\"Administrative\",\"operationName\":\"x\",\"properties\":{\"k\u017f\u017f\":21,\"\u017f\u017fk\":22}}"),
		// Arrays of layout objects, taken without a scan (arrayEach):
		// blanks around elements and before their closing braces, empty
		// objects, objects beside scalars and strings holding braces,
		// duplicate members, escapes, names differing in case only
		// (Kelvin sign), nested arrays, a huge value.
		[]byte("{\"time\":\"2026-11-20T10:00:00Z\",\"category\":\"AuditLogs\",\"resourceId\":\"/tenants/72f988bf-86f1-41af-91ab-2d7cd011db47/providers/Microsoft.aadiam\",\"operationName\":\"Update user\",\"properties\":{\"targetResources\":[ { } ,{\"id\":\"a}\\\"{\",\"modifiedProperties\":[{\"displayName\":\"x\",\"newValue\":\"[{\\\"k\\\":1}]\" } , {\"newValue\":null,\"NewValue\":2,\"newValue\":\"dup\"}],\"type\":\"User\",\"misc\":[{\"newValue\":1}, \"}{\", 7, [ {\"newValue\":\"deep\"} ], {}]\n\t} , {\"\u212aey\":\"kelvin\",\"key\":\"k\",\"KEY\":\"K\"}, {\"modifiedProperties\":[ ]}, {\"modifiedProperties\":[{\"newValue\":\""+strings.Repeat("x\\\"{[", 3000)+"\"}]} ],\"additionalDetails\":[{\"key\":\"a\",\"value\":\"b\"},{\"key\":\"c\"}]}}"),
		[]byte("{\"time\":\"2026-11-20T10:00:00Z\",\"category\":\"AuditLogs\",\"resourceId\":\"/tenants/72f988bf-86f1-41af-91ab-2d7cd011db47/providers/Microsoft.aadiam\",\"operationName\":\"x\",\"properties\":{\"targetResources\":[{\"modifiedProperties\":[{\"newValue\":\"1\"}]}],\"TargetResources\":[{\"modifiedProperties\":{\"newValue\":\"2\"}}],\"targetResources\":[{\"modifiedProperties\":[{\"newValue\":\"3\"},{\"newValue\":{\"a\":[{}]}}]}]}}"))
	// The arrays' records must reach the index with their layout.
	for _, raw := range raws[len(raws)-2:] {
		if ev, status, err := reg.Parse(raw); status != source.Parsed || ev.Layout == nil {
			t.Fatalf("%.200s: %v %v, layout %t", raw, status, err, ev != nil && ev.Layout != nil)
		}
	}
	fixed := []string{"a.b.c", "A.B.C", "a.B.c", "properties.x.y", "PROPERTIES.X.Y", "category", "CATEGORY", "properties.status.errorCode", "Level", "level", "identity.claims.name",
		"properties.targetResources.modifiedProperties.newValue", "properties.targetResources", "properties.TARGETRESOURCES.modifiedproperties",
		"properties.targetResources.key", "properties.targetResources.KEY", "properties.targetResources.misc.newValue", "properties.targetResources.misc", "properties.targetResources.\u212aey", "properties.additionalDetails.key", "properties.missing", "x.y", "properties.Properties",
		"a..b", "a.", ".a", "properties..x", "Properties.x.y", "properties.X.y", "a.b", "A.b",
		"properties.status", "properties.STATUs", "properties.\u017ftatus", "properties.statu\u017f", "properties.kind", "properties.\u212aind",
		"properties.kin\u212a", "properties.KINK", "properties.\u0131d", "properties.\u0130d", "properties.ID", "properties.caf\u00c9",
		"properties.k.k", "properties.\u212a.\u212a", "properties.K.\u212a", "properties.\u212a.K",
		"properties.\u03a3x", "properties.x\u03a3", "properties.\u03c2X", "properties.X\u03c2",
		// As long as \u212ass and ss\u212a, an ASCII byte where they have
		// none; and the other way round.
		"properties.k\u017f\u017f", "properties.\u017f\u017fk", "properties.\u212ass", "properties.ss\u212a"}
	// A table of each fixed path alone: its filters (resolve's length,
	// first and last bytes) are not filled by other paths' names.
	fixedTabs := make([]*pathTable, len(fixed))
	for i, p := range fixed {
		fixedTabs[i] = buildPathTable(map[string]bool{p: true})
	}
	seeded := 0
	for _, raw := range raws {
		ev, status, _ := reg.Parse(raw)
		if status != source.Parsed || source.IsFlow(ev) && len(ev.Raw) > 64<<10 {
			continue
		}
		if ev.Layout != nil && len(ev.Layout.Objects) > 0 {
			seeded++
		}
		paths := append(memberPaths(ev.Raw, "", 0), fixed...)
		x := newFieldCache()
		x.reset(ev)
		// The same through a path table that has every path
		// (pathtable.go), the shared index's form and the cache's.
		set := map[string]bool{}
		for _, p := range paths {
			set[p] = true
		}
		tab := buildPathTable(set)
		y := newFieldCache()
		y.reset(ev)
		if ev.Layout != nil {
			y.idx.reset()
			y.idx.seed(ev.Raw, ev.Layout, tab)
		}
		y.idx.tab = tab
		for _, p := range paths {
			want, wantFound := event.Lookup(ev.Raw, p)
			if got, gotFound := x.idx.lookup(ev.Raw, p); wantFound != gotFound || !reflect.DeepEqual(texts(want), texts(got)) {
				t.Fatalf("path %q in %.300s:\nseeded index %t %q\nLookup       %t %q", p, ev.Raw, gotFound, texts(got), wantFound, texts(want))
			}
			for _, got := range []func() ([]event.Value, bool){
				func() ([]event.Value, bool) { return y.idx.lookupID(ev.Raw, p, keyID(p)) },
				func() ([]event.Value, bool) { return y.idx.lookupShortID(ev.Raw, p, keyID(p)) },
			} {
				vals, gotFound := got()
				if wantFound != gotFound || !reflect.DeepEqual(texts(want), texts(vals)) {
					t.Fatalf("path %q in %.300s:\nthrough the path table %t %q\nLookup                 %t %q", p, ev.Raw, gotFound, texts(vals), wantFound, texts(want))
				}
			}
		}
		w := newFieldCache()
		w.reset(ev)
		for i, p := range fixed {
			w.idx.reset()
			if ev.Layout != nil {
				w.idx.seed(ev.Raw, ev.Layout, fixedTabs[i])
			}
			w.idx.tab = fixedTabs[i]
			want, wantFound := event.Lookup(ev.Raw, p)
			if got, gotFound := w.idx.lookupShortID(ev.Raw, p, keyID(p)); wantFound != gotFound || !reflect.DeepEqual(texts(want), texts(got)) {
				t.Fatalf("path %q in %.300s:\nthrough the path's own table %t %q\nLookup                       %t %q", p, ev.Raw, gotFound, texts(got), wantFound, texts(want))
			}
		}
		if ev.Layout != nil && len(ev.Layout.Objects) > 0 && len(y.idx.res) == 0 {
			t.Fatalf("no object of %.200s was indexed through the path table", ev.Raw)
		}
		// A reader after the condition pass starts from what it indexed
		// (keep, seedIndex), and answers the same.
		if ev.Layout != nil && len(ev.Layout.Objects) > 0 {
			y.idx.keep()
			z := newFieldCache()
			z.reset(ev)
			z.idx.reset()
			z.idx.seed(ev.Raw, ev.Layout, tab)
			if len(z.idx.res) != len(y.idx.res) {
				t.Fatalf("the kept index has %d entries, the condition pass's %d", len(z.idx.res), len(y.idx.res))
			}
			for _, p := range paths {
				want, wantFound := event.Lookup(ev.Raw, p)
				got, gotFound := z.idx.lookupShortID(ev.Raw, p, keyID(p))
				if wantFound != gotFound || !reflect.DeepEqual(texts(want), texts(got)) {
					t.Fatalf("path %q in %.300s:\nfrom the kept index %t %q\nLookup             %t %q", p, ev.Raw, gotFound, texts(got), wantFound, texts(want))
				}
			}
			ev.Layout.Index = ev.Layout.Index[:0]
		}
	}
	if seeded < 300 {
		t.Fatalf("only %d records came with a layout", seeded)
	}
}

// memberPaths lists the dotted paths of v's object members, to depth 4.
func memberPaths(v []byte, prefix string, depth int) []string {
	if depth > 4 {
		return nil
	}
	var out []string
	_ = event.ObjectEach(v, func(key, val []byte) bool {
		name, ok := event.Unquote(key)
		if !ok {
			return true
		}
		p := prefix + name
		out = append(out, p, strings.ToUpper(p))
		if len(val) > 0 && val[0] == '{' {
			out = append(out, memberPaths(val, p+".", depth+1)...)
		}
		return true
	})
	return out
}

// foldEqual is consider's comparison of a name with a piece.
func TestFoldEqual(t *testing.T) {
	for _, c := range [][2]string{
		{"properties", "properties"}, {"Properties", "properties"}, {"PROPERTIES", "properties"},
		{"propertieS", "properties"}, {"propertiez", "properties"}, {"a.b", "A.B"}, {"a[b", "a{b"},
		{"@", "`"}, {"[", "{"}, {"\u212a", "kkk"}, {"\u212aa", "kka"}, {"é", "É"}, {"é", "é"},
		{"x\\u0041", "x\\u0061"}, {"", ""}, {"ab", "abc"},
	} {
		exact, folded := foldEqual([]byte(c[0]), c[1])
		wantExact := c[0] == c[1]
		wantFolded := !wantExact && strings.EqualFold(c[0], c[1])
		if exact != wantExact || folded != wantFolded {
			t.Errorf("foldEqual(%q, %q) = %t, %t; want %t, %t", c[0], c[1], exact, folded, wantExact, wantFolded)
		}
	}
}

// FuzzPathTableAgreesWithLookup: member names and paths of any bytes read
// through a path table (resolve, walkPlan) find what event.Lookup finds,
// for a path ending in a dot too (the member itself, as the walk takes it).
func FuzzPathTableAgreesWithLookup(f *testing.F) {
	f.Add("status", "Status", "properties.status")
	f.Add("\u212aind", "kind", "properties.KIND")
	f.Add("k\u017f\u017f", "\u212ass", "properties.kss")
	f.Add("a.b", "a", "properties.a.b")
	reg, err := source.NewRegistry()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, n1, n2, path string) {
		q1, _ := json.Marshal(n1)
		q2, _ := json.Marshal(n2)
		raw := []byte(`{"time":"2026-11-20T10:00:00Z","category":"Administrative","operationName":"x","properties":{` +
			string(q1) + `:1,` + string(q2) + `:{"x":2,` + string(q1) + `:3},"statua":4}}`)
		ev, status, _ := reg.Parse(raw)
		if status != source.Parsed || ev.Layout == nil {
			return
		}
		paths := []string{path, "properties." + path, "properties." + n1, "properties." + n2 + "." + n1, "properties." + n2 + ".x"}
		set := map[string]bool{}
		for _, p := range paths {
			set[p] = true
		}
		for _, tab := range []*pathTable{buildPathTable(set), buildPathTable(map[string]bool{"properties." + path: true})} {
			y := newFieldCache()
			y.reset(ev)
			y.idx.reset()
			y.idx.seed(ev.Raw, ev.Layout, tab)
			y.idx.tab = tab
			for _, p := range paths {
				want, wantFound := event.Lookup(ev.Raw, p)
				got, gotFound := y.idx.lookupShortID(ev.Raw, p, keyID(p))
				if wantFound != gotFound || !reflect.DeepEqual(texts(want), texts(got)) {
					t.Fatalf("path %q in %s: table %t %q, Lookup %t %q", p, ev.Raw, gotFound, texts(got), wantFound, texts(want))
				}
			}
		}
	})
}
