package source

import (
	"reflect"
	"unsafe"

	"github.com/azdetect/azdetect/internal/event"
)

// flowsRead is the tuples the decoder read where it met them: a record's
// flows array (NSG's properties.flows, VNet's flowRecords.flows) is
// walked by its decoder with the decoder's own scanner (so checked as
// strictly as skipping it checked it), each tuple read by
// event.ReadPlainTuple and kept (tupleKeeper.addPlain), instead of the
// decoder skipping the array and fillFlow's walk reading it once more.
// It takes the usual layout only: each object's members in the order
// the logs write them, once each, with plain names and group strings,
// and every tuple plain. Anything else makes it give up and skip the
// value as before: fillFlow then walks it (flowsRead.take).
type flowsRead struct {
	k     *tupleKeeper
	flows *byte // where the array read starts (nil: none read)
	vnet  bool
}

// readFlows switches flowsRead off (false), for the tests that hold it
// to the walk.
var readFlows = true

// UnmarshalJSON takes any value and keeps nothing of it: the reference
// decoder (unmarshal) reads no tuples.
func (*flowsRead) UnmarshalJSON([]byte) error { return nil }

// flowsArray decodes NSG's properties.flows; flowRecordsValue VNet's
// flowRecords (which holds flows).
type (
	flowsArray       struct{ flowsRead }
	flowRecordsValue struct{ flowsRead }
)

// flowPlanOf is planOf for a flow record's type, its flows decoders
// registered first (planOf reads customDecoders when it makes the plan),
// as keyVaultPlan registers its own.
func flowPlanOf(t reflect.Type) *plan {
	customDecoders[reflect.TypeFor[flowsArray]()] = decodeFlowsArray
	customDecoders[reflect.TypeFor[flowRecordsValue]()] = decodeFlowRecords
	return planOf(t)
}

// decodeFlowsArray decodes NSG's properties.flows (flowsArray).
func decodeFlowsArray(d *decoder, _ []byte, _ bool, vi int, p unsafe.Pointer) int {
	return (*flowsArray)(p).read(d, vi, false)
}

// decodeFlowRecords decodes VNet's flowRecords (flowRecordsValue).
func decodeFlowRecords(d *decoder, _ []byte, _ bool, vi int, p unsafe.Pointer) int {
	return (*flowRecordsValue)(p).read(d, vi, true)
}

// read decodes the value at vi: walked as flows (VNet: as flowRecords)
// when it is the usual layout, else skipped as an unknown member is.
func (r *flowsRead) read(d *decoder, vi int, vnet bool) int {
	r.flows = nil
	// Only in a record's own parse (decodeEvent, which keeps a layout):
	// decodeInto, and a string holding properties, skip the value.
	if d.Bad || d.layout == nil || !readFlows {
		return d.Skip(vi)
	}
	if r.k == nil {
		r.k = tupleKeepers.Get().(*tupleKeeper)
	}
	r.k.reset(d.B, vnet)
	depth := d.Depth
	var end, at int
	ok := false
	if vnet {
		end, at, ok = r.walkRecords(d, vi)
	} else {
		at = vi
		end, ok = r.walkNSG(d, vi)
	}
	if ok && !d.Bad {
		r.flows, r.vnet = &d.B[at], vnet
		return end
	}
	// Not the usual layout: skipped from its start, as before (a syntax
	// error met on the way is met again).
	d.Depth, d.Bad = depth, false
	return d.Skip(vi)
}

// take returns the keeper holding the tuples read for ev, when the walk
// of ev (event.FlowsValue) starts where the read did; else nil. The
// keeper is then the caller's to put back.
func (r *flowsRead) take(ev *event.Event) *tupleKeeper {
	k := r.k
	r.k = nil
	if k == nil {
		return nil
	}
	if r.flows != nil {
		// The MAC only for VNet, whose tuples' MAC is the record's.
		var flows []byte
		var vnet bool
		var mac string
		var err error
		if r.vnet {
			flows, vnet, mac, err = event.FlowsValue(ev)
		} else {
			flows, vnet, err = event.FlowsArray(ev)
		}
		if err == nil && len(flows) > 0 && &flows[0] == r.flows && vnet == r.vnet && unsafe.SliceData(k.raw) == unsafe.SliceData(ev.Raw) {
			if vnet { // the tuples' MAC is the record's
				for i := range k.groups {
					k.groups[i].mac = mac
				}
				if k.tuples > 0 {
					k.firstMAC = mac
				}
			}
			return k
		}
	}
	k.release()
	tupleKeepers.Put(k)
	return nil
}

// drop puts back a keeper the record's parse did not take.
func (r *flowsRead) drop() {
	if r.k != nil {
		r.k.release()
		tupleKeepers.Put(r.k)
		r.k = nil
	}
}

// key reads the member name at i, which must be name exactly, and
// returns where its value starts.
func flowKey(d *decoder, i int, name string) (int, bool) {
	k, plain, vi := d.Key(i)
	return vi, plain && !d.Bad && len(k) == len(name)+2 && string(k[1:len(k)-1]) == name
}

// flowString reads the plain ASCII string at vi (no escape) and returns
// its content and the index past it.
func flowString(d *decoder, vi int) (string, int, bool) {
	b := d.B
	if vi >= len(b) || b[vi] != '"' {
		return "", 0, false
	}
	end, ok := d.PlainString(vi)
	if !ok {
		return "", 0, false
	}
	return shared(b[vi+1 : end-1]), end, true
}

// eachFlowObject calls fn for each element of the array at vi, each an
// object whose first member is named first (a plain string, handed to fn
// with where the second member's name starts), and returns the index
// past the array. fn returns the index past the object's second member's
// value, which must be the object's last.
func eachFlowObject(d *decoder, vi int, first string, fn func(s string, i int) (int, bool)) (int, bool) {
	b := d.B
	if vi >= len(b) || b[vi] != '[' {
		return 0, false
	}
	i, more := d.OpenArray(vi)
	for more {
		if i >= len(b) || b[i] != '{' {
			return 0, false
		}
		j, members := d.Open(i)
		if !members {
			return 0, false
		}
		var s string
		var ok bool
		if j, ok = flowKey(d, j, first); !ok {
			return 0, false
		}
		if s, j, ok = flowString(d, j); !ok {
			return 0, false
		}
		if j, members = d.Next(j); !members || d.Bad {
			return 0, false
		}
		if j, ok = fn(s, j); !ok {
			return 0, false
		}
		if j, members = d.Next(j); members || d.Bad {
			return 0, false
		}
		i, more = d.NextElem(j)
	}
	return i, !d.Bad
}

// walkNSG reads properties.flows at vi: [{"rule", "flows": [{"mac",
// "flowTuples"}]}].
func (r *flowsRead) walkNSG(d *decoder, vi int) (int, bool) {
	t := &r.k.t
	return eachFlowObject(d, vi, "rule", func(rule string, i int) (int, bool) {
		t.Rule = rule
		vi, ok := flowKey(d, i, "flows")
		if !ok {
			return 0, false
		}
		return eachFlowObject(d, vi, "mac", func(mac string, i int) (int, bool) {
			if mac == "" {
				return 0, false // the record's is the walk's then
			}
			t.MAC = mac
			return r.tuples(d, i, false)
		})
	})
}

// walkRecords reads flowRecords at vi, an object whose only member
// named flows (ASCII case-insensitively, as the walk finds it) is
// written so: [{"aclID", "flowGroups": [{"rule", "flowTuples"}]}]. at is
// where that array starts.
func (r *flowsRead) walkRecords(d *decoder, vi int) (end, at int, ok bool) {
	b := d.B
	if vi >= len(b) || b[vi] != '{' {
		return 0, 0, false
	}
	t := &r.k.t
	found := false
	i, more := d.Open(vi)
	for more {
		k, plain, vj := d.Key(i)
		if !plain || d.Bad {
			return 0, 0, false
		}
		var j int
		switch name := k[1 : len(k)-1]; {
		case string(name) == "flows" && !found:
			found, at = true, vj
			if j, ok = eachFlowObject(d, vj, "aclID", func(acl string, i int) (int, bool) {
				t.ACLID = acl
				vi, ok := flowKey(d, i, "flowGroups")
				if !ok {
					return 0, false
				}
				return eachFlowObject(d, vi, "rule", func(rule string, i int) (int, bool) {
					t.Rule = rule
					return r.tuples(d, i, true)
				})
			}); !ok {
				return 0, 0, false
			}
		case len(name) == len("flows") && equalFoldASCII(name, "flows"):
			return 0, 0, false // another the walk might take
		default:
			j = d.Skip(vj)
		}
		i, more = d.Next(j)
	}
	return i, at, found && !d.Bad
}

// tuples reads the member at i, flowTuples: an array of plain tuples,
// each kept as it is read.
func (r *flowsRead) tuples(d *decoder, i int, vnet bool) (int, bool) {
	vi, ok := flowKey(d, i, "flowTuples")
	b := d.B
	if !ok || vi >= len(b) || b[vi] != '[' {
		return 0, false
	}
	k := r.k
	// The array's tuples are one group (t's names, set by the walk
	// before): compared with the last kept group once, not once a tuple.
	g := len(k.groups) - 1
	k.grouped = g >= 0 && k.groups[g].is(&k.t)
	j, more := d.OpenArray(vi)
	for more {
		if j >= len(b) || b[j] != '"' {
			return 0, false
		}
		// k.raw is b (read): the tuple's text is b[j+1:][:end-2].
		end, ok := event.ReadPlainTuple(b[j:], vnet, &k.p)
		if !ok || !k.keepPlain(&k.p, j+1, end-2, &k.t) {
			return 0, false
		}
		// NextElem's compact case, without the call: the next tuple.
		if e := j + end; e+1 < len(b) && b[e] == ',' && b[e+1] == '"' {
			j = e + 1
			continue
		}
		j, more = d.NextElem(j + end)
	}
	return j, !d.Bad
}
