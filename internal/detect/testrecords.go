package detect

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Correlation returns a stateful rule's correlation settings as loaded (nil
// for match rules).
func (r *Rule) Correlation() *Correlation {
	if s, ok := r.Kind.(statefulKind); ok {
		return s.correlation()
	}
	return nil
}

// decodeRecords reads a stateful test's records: list. An item is a record
// (a YAML map, or a string holding the record's text), or a generator:
//
//   - record: *signin_failure   # a YAML map (an alias of an anchored record works)
//     repeat: 12                # how many records (default 1)
//     set:                      # dotted paths to replace in each copy
//     properties.id: "spray-{i}"
//     time: "2026-11-20T08:00:{i:02}Z"
//
// In set values {i} is the copy's number from 1, {i:02} the same padded
// to two digits. A generator is told apart from a record by its keys: only
// record, repeat and set.
func decodeRecords(n *yaml.Node) ([][]byte, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("want a list, got %s", kindName(n))
	}
	out := [][]byte{}
	for i, item := range n.Content {
		for item.Kind == yaml.AliasNode {
			item = item.Alias
		}
		if gen, ok := generator(item); ok {
			recs, err := gen.expand()
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i+1, err)
			}
			out = append(out, recs...)
			continue
		}
		rec, err := recordBytes(item)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i+1, err)
		}
		out = append(out, rec)
	}
	return out, nil
}

type setItem struct {
	path  string
	value *yaml.Node
}

type recordGen struct {
	record *yaml.Node
	repeat int
	set    []setItem
}

func generator(n *yaml.Node) (recordGen, bool) {
	if n.Kind != yaml.MappingNode {
		return recordGen{}, false
	}
	g := recordGen{repeat: 1}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i].Value, n.Content[i+1]
		switch k {
		case "record":
			g.record = v
		case "repeat":
			r, err := strconv.Atoi(v.Value)
			if err != nil {
				return recordGen{}, false
			}
			g.repeat = r
		case "set":
			if v.Kind != yaml.MappingNode {
				return recordGen{}, false
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				if v.Content[j+1].Kind != yaml.ScalarNode {
					return recordGen{}, false
				}
				g.set = append(g.set, setItem{v.Content[j].Value, v.Content[j+1]})
			}
		default:
			return recordGen{}, false
		}
	}
	return g, g.record != nil
}

func (g recordGen) expand() ([][]byte, error) {
	rec := g.record
	for rec.Kind == yaml.AliasNode {
		rec = rec.Alias
	}
	if g.repeat < 1 || g.repeat > 1000 {
		return nil, fmt.Errorf("repeat %d: want 1 to 1000", g.repeat)
	}
	if len(g.set) > 0 && rec.Kind != yaml.MappingNode {
		return nil, errors.New("set needs the record as a YAML map")
	}
	var out [][]byte
	for i := 1; i <= g.repeat; i++ {
		cp := cloneNode(rec)
		for _, it := range g.set {
			val := *it.value
			val.Value = expandIndex(val.Value, i)
			if err := setPath(cp, strings.Split(it.path, "."), &val); err != nil {
				return nil, fmt.Errorf("set %s: %w", it.path, err)
			}
		}
		b, err := recordBytes(cp)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// aliased follows YAML aliases to the node they name.
func aliased(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func expandIndex(s string, i int) string {
	s = strings.ReplaceAll(s, "{i:02}", fmt.Sprintf("%02d", i))
	s = strings.ReplaceAll(s, "{i:03}", fmt.Sprintf("%03d", i))
	return strings.ReplaceAll(s, "{i}", strconv.Itoa(i))
}

func cloneNode(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	cp := *n
	cp.Anchor = ""
	cp.Content = make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		cp.Content[i] = cloneNode(c)
	}
	return &cp
}

// setPath replaces (or adds) the scalar at path in the map n. The value
// keeps YAML's typing (a number stays a number).
func setPath(n *yaml.Node, path []string, value *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return errors.New("not a map on the way")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value != path[0] {
			continue
		}
		if len(path) == 1 {
			n.Content[i+1] = value
			return nil
		}
		return setPath(n.Content[i+1], path[1:], value)
	}
	if len(path) > 1 {
		return fmt.Errorf("no member %q", path[0])
	}
	n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: path[0]}, value)
	return nil
}
