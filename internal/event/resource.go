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
	parts := strings.Split(strings.Trim(strings.TrimSpace(id), "/"), "/")
	var types, names []string
	for i := 0; i+1 < len(parts); {
		key, val := parts[i], parts[i+1]
		switch {
		case strings.EqualFold(key, "subscriptions"):
			r.Subscription = val
			i += 2
		case strings.EqualFold(key, "resourcegroups"):
			r.Group = val
			i += 2
		case strings.EqualFold(key, "providers"):
			// The last provider wins: extension resources nest one under
			// another (.../providers/A/x/y/providers/B/z/w).
			r.Provider = val
			types, names = types[:0], names[:0]
			i += 2
			for i < len(parts) && !strings.EqualFold(parts[i], "providers") {
				types = append(types, parts[i])
				if i+1 < len(parts) {
					names = append(names, parts[i+1])
				}
				i += 2
			}
		default:
			i += 2
		}
	}
	if len(types) > 0 {
		r.Type = strings.Join(types, "/")
	}
	if len(names) > 0 {
		r.Name = names[len(names)-1]
	}
	return r
}
