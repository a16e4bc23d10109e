// Package detect is azdetect's rule engine: rules in the Sigma format
// (selections, modifiers, a condition) with azdetect's extensions, loaded
// strictly from YAML, compiled once, and evaluated per batch of normalised
// events.
//
// # Rule files
//
// One rule per file. Unknown top-level keys fail the load; the standard
// Sigma keys are accepted, plus azdetect's severity_field (take the alert's
// severity from this event field when it holds a level), alert_group (rules
// raising the same detection over two exports of one log share their
// alerts), summary (a
// template: {field} is replaced by the field's values joined by ", ") and
// tests (cases of {name, match, record}, the record a YAML map or a string
// holding the raw text). logsource.service selects the events a rule reads
// (event.Event.Source). Load errors name the file, the rule id and the field.
// A rule's tests are decoded and checked at load by ParseRule and LoadFS,
// and for rules in LoadDefault's extraDir; the built-in rules' are decoded
// on first use (Rule.Tests: a scan never reads them) and checked by
// TestBuiltinRuleTestsDecode.
//
// # Matching
//
// A selection that is a map ANDs its fields; a list of values ORs them
// (ANDs them with |all); a list of maps ORs the maps; a list of plain values
// is a keyword search: any of them, case-insensitively, inside any string
// value of the record. Values compare case-insensitively (|cased to
// opt out), ignoring blanks around the event's value, with * and ?
// wildcards (a backslash escapes *, ? and itself). null matches a missing
// or null field; an empty value matches an empty string only. Numbers and
// booleans compare by their text. A field that fans out over an array
// matches when any element does. Modifiers: contains, startswith, endswith, all, re (Go RE2 syntax,
// case-sensitive unless (?i) or re|i; re|m, re|s), cidr (IPv4 and IPv6; the
// event's value may carry a port or brackets), exists, gt, gte, lt, lte,
// cased, and base64 as the one value transform. An unknown modifier, or a
// transform after a comparison, fails the load. Conditions: and, or, not,
// parentheses, "1 of x*", "any of x*", "all of x*", "1 of them", "all of
// them"; not binds tighter than and, and than or.
//
// # Stateful rules
//
// A rule with a correlation: block is stateful: its condition selects the
// events, and the block's type picks the kind that counts or joins them
// across batches in a state.Store (table StateTable): event_count and
// value_count (Sigma's correlation types; ThresholdKind), new_term
// (NewTermKind), spike (SpikeKind) and sequence (SequenceKind). The block's
// fields are described in correlation.go; NewEngine binds each stateful
// rule to the store given by WithStore, applies WithOverrides, and reads
// and writes a batch's state once per rule (one Get, one Apply, a re-read
// of only the keys another instance changed first). A stateful rule's tests
// give records: a list fed in order, and alerts: how many distinct alerts
// (group and window) they raise; a record may be generated from another
// with {record, repeat, set} (see decodeRecords).
//
// Field names are event.Get names (normalised names such as event.result
// and actor.upn, source Extra names, raw paths such as
// properties.activityDisplayName). SigmaHQ's Log Analytics names are mapped
// per service (fieldmap.go).
package detect
