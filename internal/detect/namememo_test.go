package detect

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/source"
)

// memoNames are the member names the records of FuzzResolveMemoAgrees
// are made of: fields of the sign-in properties and names that are none,
// names of the same length differing in one byte or in case, escaped
// spellings of a name (decoded without an entry), dotted names and the
// names they begin with, names beyond ASCII, and objects.
var memoNames = []string{
	`"userPrincipalName":"a@b"`, `"userPrincipalNamf":"x"`, `"UserPrincipalName":"c@d"`,
	`"ipAddress":"10.0.0.1"`, `"ipAddresz":"1"`, `"IPAddress":"10.0.0.2"`,
	`"appId":"app"`, `"appIe":"e"`, `"AppId":"A"`, `"app\u0049d":"esc"`, `"\u0061ppId":"esc2"`,
	`"a.b":1`, `"a":{"b":2,"c":3}`, `"A.b":4`, `"a.B":5`,
	`"status":{"errorCode":0,"failureReason":"none","ErrorCode":1}`, `"statuz":{"errorCode":9}`,
	`"location":{"city":"X","countryOrRegion":"Y","City":"Z"}`,
	`"kind":"k"`, "\"\u212aind\":\"kelvin\"", `"KIND":"K"`, `"kinx":"q"`,
	`"k1":1`, `"k2":2`, `"k3":3`, `"k4":null`, `"k5":true`, `"longNameNumberOneThatIsLong":1`, `"longNameNumberTwoThatIsLong":2`,
	`"x" : "spaced"`, `"riskState":"none"`, `"riskStatf":"none"`,
}

// memoPieces are the pieces of the nodes the fuzz resolves every object
// of a record for: names of memoNames, other cases of them, dotted ones.
var memoPieces = [][]string{
	{"userPrincipalName", "ipAddress", "appId", "status", "location", "kind", "a.b", "a", "riskState", "x"},
	{"userprincipalname", "IPADDRESS", "appid", "APPID", "Kind", "a.B", "A"},
	{"errorCode", "failureReason", "city", "countryOrRegion", "b", "ErrorCode"},
	{"k1", "k3", "k5", "longNameNumberTwoThatIsLong", "statuz", "kinx"},
}

// memoRecord writes the sign-in record of the members picked by the
// bytes of pick (indexes into memoNames: repeats are duplicates).
func memoRecord(pick []byte, top bool) []byte {
	var b strings.Builder
	b.WriteString(`{"time":"2026-11-20T10:00:00Z","category":"SignInLogs",`)
	if top && len(pick) > 0 {
		// A member of the envelope's too, before the properties.
		b.WriteString(memoNames[int(pick[0])%len(memoNames)])
		b.WriteByte(',')
	}
	b.WriteString(`"properties":{`)
	for i, p := range pick {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(memoNames[int(p)%len(memoNames)])
	}
	b.WriteString(`}}`)
	return []byte(b.String())
}

// resolveAll resolves every object of x's layout for every node of nds
// and returns the counts found, per object per node (the dotted word
// and the four words per piece, firsts read only where counted).
func resolveAll(x *recordIndex, nds []*pathNode) [][]int32 {
	var out [][]int32
	for k := range x.layout.Objects {
		for _, nd := range nds {
			base := x.resolve(k, nd)
			s := append([]int32{x.res[base-1]}, x.res[base:base+4*len(nd.pieces)]...)
			for pi := range nd.pieces {
				if s[1+4*pi+1] == 0 {
					s[1+4*pi] = 0
				}
				if s[1+4*pi+3] == 0 {
					s[1+4*pi+2] = 0
				}
			}
			out = append(out, s)
		}
	}
	return out
}

// FuzzResolveMemoAgrees: resolve's answers from the names it remembered
// by their decoder entries (nameMemo) are the ones comparing the names
// gives, record after record of one index, on records whose shapes
// change from one to the next (members added, dropped, moved, renamed
// to a name of the same length, written escaped, twice). And the
// decoder's (table, entry, generation) of a member always stands for
// the same name: what the memo relies on.
func FuzzResolveMemoAgrees(f *testing.F) {
	f.Add([]byte{0, 3, 6, 11, 12, 15, 17, 18, 255, 1, 4, 7, 11, 255, 0, 3, 6, 11, 12, 15, 17, 18})
	f.Add([]byte{6, 7, 8, 9, 10, 255, 7, 6, 10, 9, 8, 255, 6, 6, 6, 255, 9, 7, 255, 6})
	f.Add([]byte{18, 19, 20, 21, 255, 21, 20, 19, 18, 255, 19, 19, 255, 20, 18})
	f.Add([]byte{22, 23, 24, 25, 26, 27, 28, 255, 28, 27, 26, 25, 24, 23, 22, 255, 0, 1, 2, 255, 2, 1, 0})
	f.Add([]byte{11, 12, 13, 14, 255, 14, 13, 12, 11, 255, 15, 16, 255, 16, 15, 17})
	f.Add([]byte{29, 30, 31, 255, 31, 30, 29, 255, 0, 29, 255, 30, 1, 31})
	reg, err := source.NewRegistry()
	if err != nil {
		f.Fatal(err)
	}
	var nds []*pathNode
	for i, ps := range memoPieces {
		nd := &pathNode{id: int32(i), pieces: ps}
		nd.index()
		nds = append(nds, nd)
	}
	tab := &pathTable{serial: tableSerials.Add(1)}
	f.Fuzz(func(t *testing.T, script []byte) {
		// One index for every record (its memos kept), one that
		// compares every name (no decoder tables).
		var memo, plain recordIndex
		type name struct{ table, entry, gen int32 }
		names := map[name]string{}
		remembered := 0
		for r, pick := range slices.Collect(func(yield func([]byte) bool) {
			for _, p := range strings.Split(string(script), "\xff") {
				if !yield([]byte(p)) {
					return
				}
			}
		}) {
			raw := memoRecord(pick, r%3 == 1)
			ev, status, _ := reg.Parse(raw)
			if status != source.Parsed || ev.Layout == nil {
				t.Fatalf("record %d %s: not parsed with a layout (%v)", r, raw, status)
			}
			l := ev.Layout
			for _, m := range l.Members {
				if m.Entry() == 0 {
					continue
				}
				if int(m.Object) >= len(l.Tables) || l.Tables[m.Object] == 0 || m.Gen() == 0 {
					t.Fatalf("record %d %s: member %+v of an entry with no table or generation", r, raw, m)
				}
				remembered++
				key := name{l.Tables[m.Object], m.Entry(), m.Gen()}
				n := string(raw[m.KeyStart:m.KeyEnd])
				if was, ok := names[key]; ok && was != n {
					t.Fatalf("record %d: table %d entry %d generation %d is %q, was %q", r, key.table, key.entry, key.gen, n, was)
				}
				names[key] = n
			}
			memo.reset()
			memo.seed(ev.Raw, l, tab)
			got := resolveAll(&memo, nds)
			bare := *l
			bare.Tables = nil
			plain.reset()
			plain.seed(ev.Raw, &bare, tab)
			want := resolveAll(&plain, nds)
			if !slices.EqualFunc(got, want, slices.Equal) {
				t.Fatalf("record %d %s:\nremembered %v\ncompared   %v", r, raw, got, want)
			}
			// And by their definition, object by object.
			for k := range l.Objects {
				for i, nd := range nds {
					w := resolvePlainAt(ev.Raw, l, k, nd.pieces)
					g := got[k*len(nds)+i][1:]
					for pi := range nd.pieces {
						if fmt.Sprint(g[4*pi:4*pi+4]) != fmt.Sprint(w[4*pi:4*pi+4]) {
							t.Fatalf("record %d %s object %d piece %q: resolve %v, plain %v", r, raw, k, nd.pieces[pi], g[4*pi:4*pi+4], w[4*pi:4*pi+4])
						}
					}
				}
			}
		}
		if len(script) > 8 && remembered == 0 {
			t.Fatalf("no member of an entry: the memo went untested")
		}
	})
}

// resolvePlainAt is resolvePlain for layout object k, its firsts zeroed
// where not counted (as resolveAll gives them).
func resolvePlainAt(raw []byte, l *event.Layout, k int, pieces []string) []int32 {
	l2 := *l
	l2.First = []int32{l.First[k]}
	s := resolvePlain(raw, &l2, pieces)
	for pi := range pieces {
		if s[4*pi+1] == 0 {
			s[4*pi] = 0
		}
		if s[4*pi+3] == 0 {
			s[4*pi+2] = 0
		}
	}
	return s
}
