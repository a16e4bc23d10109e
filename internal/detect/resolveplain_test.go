package detect

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/azdetect/azdetect/internal/event"
)

// resolvePlain is resolve's answer by its definition: every member
// compared with every piece of its length (foldEqual).
func resolvePlain(raw []byte, l *event.Layout, pieces []string) []int32 {
	slots := make([]int32, 4*len(pieces))
	for j := l.First[0]; j >= 0; {
		m := &l.Members[j]
		key := raw[m.KeyStart:m.KeyEnd]
		for pi, p := range pieces {
			if len(p) != len(key) {
				continue
			}
			s := slots[4*pi : 4*pi+4]
			switch exact, folded := foldEqual(key, p); {
			case exact:
				if s[1] == 0 {
					s[0] = j
				}
				s[1]++
			case folded:
				if s[3] == 0 {
					s[2] = j
				}
				s[3]++
			}
		}
		if m.Next <= j {
			break
		}
		j = m.Next
	}
	return slots
}

// oneObject is a record of one object with the members names (values 0,
// 1...) and its layout, the keys' spans over their quoted text's inside
// (names are written with no escapes: the fuzzer's names with quotes or
// backslashes are left out).
func oneObject(names []string) ([]byte, *event.Layout) {
	l := &event.Layout{Objects: []int32{0}, First: []int32{-1}}
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		ks := b.Len()
		b.WriteString(n)
		ke := b.Len()
		b.WriteString(`":`)
		vs := b.Len()
		b.WriteByte('0' + byte(i%10))
		l.Members = append(l.Members, event.MemberSpan{KeyStart: int32(ks), KeyEnd: int32(ke), ValStart: int32(vs), ValEnd: int32(vs + 1), Next: -1})
		if i > 0 {
			l.Members[i-1].Next = int32(i)
		}
	}
	if len(names) > 0 {
		l.First[0] = 0
	}
	b.WriteByte('}')
	return []byte(b.String()), l
}

// FuzzResolveAgreesWithPlain: resolve's filters (length, first byte)
// pass over no member that some piece of the node equals: it finds, for
// each piece, the members every comparison of names finds, exact and in
// another case, ASCII and beyond (Kelvin sign, long s), names ending the
// record.
func FuzzResolveAgreesWithPlain(f *testing.F) {
	f.Add("status,Status,STATUS,statua", "status,Status,x")
	f.Add("\u212aind,kind,KIND", "kind,\u212aind")
	f.Add("k\u017f\u017f,kss,KSS", "kss,k\u017f\u017f")
	f.Add("properties.userPrincipalName,properties.userPrincipalNamE,initiatedBy", "properties.userPrincipalName,properties.userprincipalname,initiatedBy,initiatedby.user")
	f.Add("a,,ab,@,`,_,\x7f", "A,,`,@,_,\x7f")
	f.Add("resultType,resultTypf,ResultType,resourceId,resultDescription", "ResultType,resultType,resultDescription,resultdescriptioN")
	f.Fuzz(func(t *testing.T, members, pieces string) {
		names := strings.Split(members, ",")
		for _, n := range names {
			if q, _ := json.Marshal(n); string(q) != `"`+n+`"` {
				return // a name the record would write escaped
			}
		}
		var ps []string
		seen := map[string]bool{}
		for _, p := range strings.Split(pieces, ",") {
			if !seen[p] {
				seen[p] = true
				ps = append(ps, p)
			}
		}
		raw, l := oneObject(names)
		nd := &pathNode{pieces: ps}
		nd.index()
		for _, cut := range []int{0, 1} {
			// Cut: the record ends at the last key's end.
			r := raw
			if cut == 1 && len(l.Members) > 0 {
				last := l.Members[len(l.Members)-1]
				r = raw[:last.KeyEnd]
				l2 := *l
				l2.Members = append([]event.MemberSpan(nil), l.Members...)
				l2.Members[len(l2.Members)-1].ValStart, l2.Members[len(l2.Members)-1].ValEnd = last.KeyEnd, last.KeyEnd
				l = &l2
			}
			var x recordIndex
			x.raw, x.layout = r, l
			x.resHead = make([]int32, len(l.Objects))
			base := x.resolve(0, nd)
			got := x.res[base : base+4*len(ps)]
			want := resolvePlain(r, l, ps)
			for pi := range ps {
				g, w := got[4*pi:4*pi+4], want[4*pi:4*pi+4]
				if g[1] != w[1] || g[3] != w[3] || w[1] > 0 && g[0] != w[0] || w[3] > 0 && g[2] != w[2] {
					t.Fatalf("piece %q in %q (cut %d): resolve %v, plain %v", ps[pi], r, cut, g, w)
				}
			}
		}
	})
}
