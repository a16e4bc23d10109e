package detect

import (
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
		[]byte(`{"time":"2026-11-20T10:00:00Z","category":"Administrative","operationName":"x","a":{"b":{"c":2}},"a.b":{"c":1},"a.b.c":0,"properties":{"X":{"Y":2},"x.y":1}}`))
	fixed := []string{"a.b.c", "A.B.C", "a.B.c", "properties.x.y", "PROPERTIES.X.Y", "category", "CATEGORY", "properties.status.errorCode", "Level", "level", "identity.claims.name",
		"properties.targetResources.modifiedProperties.newValue", "properties.missing", "x.y", "properties.Properties",
		"a..b", "a.", ".a", "properties..x", "Properties.x.y", "properties.X.y", "a.b", "A.b"}
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
