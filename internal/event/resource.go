package event

import "strings"

// Resource is an Azure Resource Manager id split into its parts. ID keeps
// the id as written; the parts keep their case as written too (compare them
// case-insensitively: exports upper-case ids, payloads do not).
type Resource struct {
	ID           string
	Subscription string
	Group        string
	Provider     string // "MICROSOFT.KEYVAULT"
	Type         string // "VAULTS", or "VIRTUALMACHINES/EXTENSIONS" for child types
	Name         string // the last name segment
}

// ParseResourceID splits an ARM resource id. Ids that are not ARM paths
// (tenant ids, "/RESOURCE_ID", "") give a Resource with only ID set.
func ParseResourceID(id string) Resource {
	r := Resource{ID: id}
	// Segments are read off the id in place: no slice of parts, and a
	// single type is a substring of the id (only a child type, several
	// segments joined, is built).
	rest := strings.Trim(strings.TrimSpace(id), "/")
	next := func() (string, bool) {
		if rest == "" {
			return "", false
		}
		seg, after, found := strings.Cut(rest, "/")
		if found {
			rest = after
		} else {
			rest = ""
		}
		return seg, true
	}
	var typ, name string
	var tbuf [4]string
	types := tbuf[:0] // past the first type
	ntypes := 0
	if rest == "" {
		return r
	}
	key, _ := next()
	for {
		val, ok := next()
		if !ok {
			break // a key with no value: ignored, as a trailing segment
		}
		switch {
		case strings.EqualFold(key, "subscriptions"):
			r.Subscription = val
		case strings.EqualFold(key, "resourcegroups"):
			r.Group = val
		case strings.EqualFold(key, "providers"):
			// The last provider wins: extension resources nest one under
			// another (.../providers/A/x/y/providers/B/z/w).
			r.Provider = val
			typ, name, types, ntypes = "", "", types[:0], 0
			for {
				t, ok := next()
				if !ok {
					key = ""
					break
				}
				if strings.EqualFold(t, "providers") {
					key = t
					break
				}
				if ntypes == 0 {
					typ = t
				} else {
					types = append(types, t)
				}
				ntypes++
				if n, ok := next(); ok {
					name = n
				}
			}
			if key == "" {
				goto done
			}
			continue
		}
		var ok2 bool
		if key, ok2 = next(); !ok2 {
			break
		}
	}
done:
	if len(types) > 0 {
		// A child type, built in one allocation.
		n := len(typ)
		for _, t := range types {
			n += 1 + len(t)
		}
		var b strings.Builder
		b.Grow(n)
		b.WriteString(typ)
		for _, t := range types {
			b.WriteByte('/')
			b.WriteString(t)
		}
		r.Type = b.String()
	} else {
		r.Type = typ
	}
	r.Name = name
	return r
}
