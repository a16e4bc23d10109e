package detect

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseConditionPrecedence(t *testing.T) {
	tests := []struct {
		in   string
		want Node
	}{
		{"a", Ident("a")},
		{"a and b or c", Or{And{Ident("a"), Ident("b")}, Ident("c")}},
		{"a or b and c", Or{Ident("a"), And{Ident("b"), Ident("c")}}},
		{"not a and b", And{Not{Ident("a")}, Ident("b")}},
		{"not a or b", Or{Not{Ident("a")}, Ident("b")}},
		{"not (a or b)", Not{Or{Ident("a"), Ident("b")}}},
		{"a and (b or c)", And{Ident("a"), Or{Ident("b"), Ident("c")}}},
		{"a and b and c", And{Ident("a"), Ident("b"), Ident("c")}},
		{"a or b or c", Or{Ident("a"), Ident("b"), Ident("c")}},
		{"not not a", Not{Not{Ident("a")}}},
		{"1 of sel_*", OneOf{"sel_*"}},
		{"any of sel_*", OneOf{"sel_*"}},
		{"all of sel_*", AllOf{"sel_*"}},
		{"1 of them", OneOf{"them"}},
		{"all of them", AllOf{"them"}},
		{"ALL OF Them", AllOf{"them"}},
		{"selection_main and 1 of selection_empty*", And{Ident("selection_main"), OneOf{"selection_empty*"}}},
		{"sel and not 1 of filter_*", And{Ident("sel"), Not{OneOf{"filter_*"}}}},
		{"a AND b OR NOT c", Or{And{Ident("a"), Ident("b")}, Not{Ident("c")}}},
		{"((a))", Ident("a")},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseCondition(tc.in)
			if err != nil {
				t.Fatalf("ParseCondition(%q): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseCondition(%q) = %#v, want %#v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseConditionErrors(t *testing.T) {
	for _, in := range []string{
		"", "and", "a and", "a or or b", "(a", "a)", "not", "1 of", "1 of (a)", "a b",
		"sel*", "1 a", "selection | count() > 5", "a & b", "of them", "all",
	} {
		t.Run(in, func(t *testing.T) {
			if n, err := ParseCondition(in); err == nil {
				t.Fatalf("ParseCondition(%q) = %v, want an error", in, n)
			}
		})
	}
}

func TestBindCondition(t *testing.T) {
	names := []string{"selection_a", "selection_b", "filter", "_helper"}
	tests := []struct {
		cond    string
		wantErr string
	}{
		{"selection_a and not filter", ""},
		{"1 of selection_*", ""},
		{"all of them", ""},
		{"missing", `unknown selection "missing"`},
		{"1 of nothing_*", `"nothing_*" matches no selection`},
	}
	for _, tc := range tests {
		n, err := ParseCondition(tc.cond)
		if err != nil {
			t.Fatal(err)
		}
		_, err = bindCondition(n, names)
		if tc.wantErr == "" && err != nil {
			t.Errorf("%q: %v", tc.cond, err)
		}
		if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%q: error %v, want %q", tc.cond, err, tc.wantErr)
		}
	}
	// "them" leaves out names starting with an underscore.
	n, _ := ParseCondition("all of them")
	c, _ := bindCondition(n, names)
	if got := len(c.(condAnd)); got != 3 {
		t.Errorf("all of them binds %d selections, want 3", got)
	}
}

func FuzzParseCondition(f *testing.F) {
	for _, s := range []string{
		"a and b or c", "not (a or b)", "1 of sel_*", "all of them", "a and not 1 of filter*",
		"((a)) or not not b", "selection_main and 1 of selection_empty*", "any of x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseCondition(s)
		if err != nil {
			return
		}
		// What parses prints back to text that parses to the same tree.
		again, err := ParseCondition(n.String())
		if err != nil {
			t.Fatalf("ParseCondition(%q) = %v; reparse of %q: %v", s, n, n.String(), err)
		}
		if !reflect.DeepEqual(n, again) {
			t.Fatalf("round trip of %q: %#v != %#v", s, n, again)
		}
	})
}
