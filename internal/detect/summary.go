package detect

import (
	"fmt"
	"strings"

	"github.com/azdetect/azdetect/internal/event"
)

// summaryPart is literal text or one {field} of a summary template.
type summaryPart struct {
	text  string
	field string
	res   *resolver
	// alias is summaryAliases[field], looked up when the template is
	// parsed, not at each render.
	alias []string
}

// summaryAliases are short names a template may use for the common
// entities: {actor} is the best actor label (event.Event.Who).
var summaryAliases = map[string][]string{
	"actor":     {event.FieldActorID},
	"target":    {event.FieldTarget, event.FieldResourceName},
	"ip":        {event.FieldActorIP},
	"resource":  {event.FieldResourceID},
	"operation": {event.FieldOperation},
}

const summaryMissing = "unknown"

// render's result is only written into the summary being built: values
// are read without copying them (event.Value.Text).
func (p summaryPart) render(ev *event.Event) string {
	for _, name := range p.alias {
		if v, ok := ev.Normalised(name); ok && v != "" {
			return v
		}
	}
	if s, found, ok := p.res.single(ev); ok {
		// A normalised field: one value at most, read without a slice.
		if s = strings.TrimSpace(s); found && s != "" {
			return s
		}
		return summaryMissing
	}
	var room [4]event.Value
	vals, found := p.res.getInto(ev, room[:0])
	if !found {
		return summaryMissing
	}
	if len(vals) == 1 {
		if s := strings.TrimSpace(vals[0].Text()); s != "" {
			return s
		}
		return summaryMissing
	}
	strs := make([]string, 0, len(vals))
	for _, v := range vals {
		if s := strings.TrimSpace(v.Text()); s != "" {
			strs = append(strs, s)
		}
	}
	if len(strs) == 0 {
		return summaryMissing
	}
	return strings.Join(strs, ", ")
}

// parseSummary splits a template into parts. "{{" and "}}" are literal
// braces; an unclosed or empty {} is an error.
func parseSummary(tmpl, service string) ([]summaryPart, error) {
	var parts []summaryPart
	var lit strings.Builder
	for i := 0; i < len(tmpl); i++ {
		c := tmpl[i]
		switch {
		case c == '{' && i+1 < len(tmpl) && tmpl[i+1] == '{':
			lit.WriteByte('{')
			i++
		case c == '}' && i+1 < len(tmpl) && tmpl[i+1] == '}':
			lit.WriteByte('}')
			i++
		case c == '{':
			end := strings.IndexByte(tmpl[i+1:], '}')
			if end < 0 {
				return nil, fmt.Errorf("summary: unclosed '{' at offset %d", i)
			}
			name := strings.TrimSpace(tmpl[i+1 : i+1+end])
			if name == "" || strings.ContainsAny(name, "{") {
				return nil, fmt.Errorf("summary: bad field name at offset %d", i)
			}
			if lit.Len() > 0 {
				parts = append(parts, summaryPart{text: lit.String()})
				lit.Reset()
			}
			parts = append(parts, summaryPart{field: name, res: newResolver(service, name), alias: summaryAliases[name]})
			i += end + 1
		case c == '}':
			return nil, fmt.Errorf("summary: unmatched '}' at offset %d", i)
		default:
			lit.WriteByte(c)
		}
	}
	if lit.Len() > 0 || len(parts) == 0 {
		parts = append(parts, summaryPart{text: lit.String()})
	}
	return parts, nil
}
