package state

import (
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// Table Storage's limits on one entity, checked before every write so that
// an oversized entity is refused here, attributed to what built it, and not
// by the service in the middle of a transaction (which would fail the
// whole partition's transaction, and with it the batch):
//
//	a binary property            at most 64 KiB          (MaxDataLen)
//	a string property            at most 32 Ki UTF-16 units (MaxTextLen bytes is the safe bound)
//	a whole entity               at most 1 MiB           (MaxEntityBytes, the service's own size formula)
//	properties per entity        at most 252 custom ones (Entity has five: fixed by design)
const (
	// MaxEntityBytes is the service's limit on one entity's size.
	MaxEntityBytes = 1 << 20
	// MaxProperties is the most custom properties an entity may have.
	MaxProperties = 252
	// entityProperties is how many custom properties Entity maps to
	// (Expires, Count, Time, Text, Data): far below MaxProperties.
	entityProperties = 5
)

// Entity's fixed properties fit the service's count by construction: this
// does not compile if they ever did not.
var _ [MaxProperties - entityProperties]struct{}

// ErrEntityTooLarge is what a write of an entity over one of Table
// Storage's limits wraps (and, with it, ErrInvalid). Nothing was written.
// The detection engine turns it into a per-record error: the record whose
// content made the entity too large is dead-lettered, the batch goes on.
var ErrEntityTooLarge = fmt.Errorf("%w: entity over Table Storage's limits", ErrInvalid)

// CheckEntity reports why e cannot be stored as it is (wrapping
// ErrEntityTooLarge or ErrInvalid), or nil. Apply calls it for every
// operation; callers that build entities from records call it first, to
// know which record to blame.
func CheckEntity(e Entity) error {
	var kc keyCheck
	return checkEntity(&e, &kc)
}

// checkEntity is CheckEntity with the keys checked by kc.
func checkEntity(e *Entity, kc *keyCheck) error {
	if err := kc.check(e.Key()); err != nil {
		return err
	}
	if len(e.Data) > MaxDataLen {
		return fmt.Errorf("%w: %s: Data is %d bytes, at most %d", ErrEntityTooLarge, e.Key(), len(e.Data), MaxDataLen)
	}
	if len(e.Text) > MaxTextLen {
		return fmt.Errorf("%w: %s: Text is %d bytes, at most %d", ErrEntityTooLarge, e.Key(), len(e.Text), MaxTextLen)
	}
	if !validUTF8(e.Text) {
		return fmt.Errorf("%w: %s: Text is not UTF-8", ErrInvalid, e.Key())
	}
	// Within the bounds above, an entity cannot reach MaxEntityBytes: the
	// service's formula is only worked out (UTF-16 lengths of keys and
	// Text, every write) if the bounds ever allow it.
	if maxBoundedEntityBytes > MaxEntityBytes {
		if n := EntityBytes(*e); n > MaxEntityBytes {
			return fmt.Errorf("%w: %s: entity is %d bytes, at most %d", ErrEntityTooLarge, e.Key(), n, MaxEntityBytes)
		}
	}
	return nil
}

// maxBoundedEntityBytes is EntityBytes' most for an entity within the key,
// Text and Data bounds: the keys at maxRawKeyLen bytes (at most a UTF-16
// unit each), every property set, names of at most 16 characters.
const maxBoundedEntityBytes = 4 + 2*(2*maxRawKeyLen) + 2 + 2 + entityProperties*(8+2*16) + 3*8 + 4 + 2*MaxTextLen + 4 + MaxDataLen

// EntityBytes is the entity's size by the service's formula: 4 bytes of
// overhead, the keys as UTF-16 with their terminators, and per property 8
// bytes plus its name as UTF-16 plus its value (a string 4 bytes plus
// UTF-16; a binary 4 bytes plus its length; Int64 and DateTime 8).
func EntityBytes(e Entity) int {
	n := 4 + 2*(utf16Len(e.PartitionKey)+utf16Len(e.RowKey)) + 2 + 2
	prop := func(name string, value int) { n += 8 + 2*len(name) + value }
	if !e.Expires.IsZero() {
		prop(propExpires, 8)
	}
	if e.Count != 0 {
		prop(propCount, 8)
	}
	if !e.Time.IsZero() {
		prop(propTime, 8)
	}
	if e.Text != "" {
		prop(propText, 4+2*utf16Len(e.Text))
	}
	if len(e.Data) > 0 {
		prop(propData, 4+len(e.Data))
	}
	return n
}

func utf16Len(s string) int {
	i := 0
	for i < len(s) && s[i] < utf8.RuneSelf {
		i++
	}
	if i == len(s) {
		return len(s) // ASCII: a code unit a byte
	}
	n := i
	for _, r := range s[i:] {
		n += utf16.RuneLen(r)
	}
	return n
}
