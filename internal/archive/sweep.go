// Package archive follows the logs diagnostic settings archive to a storage
// account (DESIGN.md, "Archive ingestion"): a cursor per blob in Table
// Storage, range reads of only the new bytes, and a cursor that moves only
// after the records it covers were evaluated and their alerts delivered.
//
// The blob function registers a blob (Register: the Event Grid BlobCreated
// event, raised once for an append blob and on every commit of a block
// blob) and reads what is there; the maintenance timer sweeps the cursors
// of blobs still being written (Sweep) and reads what was appended or
// committed since. A sweep claims a cursor with an ETag-checked write (a
// lease) before it reads, so two instances never evaluate the same range at
// once; a crash between evaluating a range and moving its cursor leaves the
// lease to expire, and the next sweep reads that one range again (alert ids
// and suppression make the repeat deliver nothing twice).
package archive

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/azdetect/azdetect/internal/pipeline"
	"github.com/azdetect/azdetect/internal/state"
)

// Defaults of Options.
const (
	DefaultFollow   = time.Hour
	DefaultLease    = 10 * time.Minute
	DefaultMaxRange = 64 << 20
)

// Processor evaluates records and delivers their alerts: pipeline.Pipeline.
// A nil error means the alerts were delivered; only then does a cursor move.
type Processor interface {
	Process(ctx context.Context, inputs []pipeline.Input) (pipeline.Report, error)
}

// Options configure a Sweeper. Blobs, Store and Processor are required.
type Options struct {
	Blobs     *Blobs
	Store     state.Store
	Processor Processor
	// Follow is how long after its hour ends a blob is still swept for new
	// bytes (DefaultFollow: the current and the previous hour). It must be
	// shorter than a day, the cursors' lifetime after their hour.
	Follow time.Duration
	// Lease is how long a sweep owns a cursor while it reads and evaluates
	// one range; after it another instance may take the cursor over.
	Lease time.Duration
	// MaxRange bounds one range read (one pipeline run, one cursor move).
	MaxRange int64
	// List names containers that raise no Event Grid events ($logs never
	// does): each sweep lists them for blobs of the followed hours that
	// have no cursor yet, and reads those too. $logs-style containers are
	// listed by hour prefix (<service>/YYYY/MM/DD/hh00/); any other is
	// listed whole, each blob placed in its hour by its name (y=/m=/d=/h=)
	// or else its creation time.
	List   []string
	Now    func() time.Time
	Logger zerolog.Logger
	// BeforeMove, when set, runs after a range was evaluated and its alerts
	// delivered, just before the cursor moves. Tests panic there to stop a
	// sweep as a crash would.
	BeforeMove func(ctx context.Context, c Cursor)
}

// Sweeper registers and sweeps archive blobs. It is safe for concurrent
// use; the cursors' ETags and leases keep several instances apart.
type Sweeper struct {
	opts Options
	id   string // names this instance in the owners of its leases
	log  zerolog.Logger
}

// New checks the options.
func New(opts Options) (*Sweeper, error) {
	switch {
	case opts.Blobs == nil:
		return nil, errors.New("archive: no blob service")
	case opts.Store == nil:
		return nil, errors.New("archive: no state store for the cursors")
	case opts.Processor == nil:
		return nil, errors.New("archive: no processor")
	}
	if opts.Follow == 0 {
		opts.Follow = DefaultFollow
	}
	if opts.Follow < 0 || opts.Follow >= cursorTTL {
		return nil, fmt.Errorf("archive: follow %s: want more than 0 and less than %s", opts.Follow, cursorTTL)
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.MaxRange <= 0 {
		opts.MaxRange = DefaultMaxRange
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Sweeper{opts: opts, id: rand.Text()[:12], log: opts.Logger}, nil
}

// Owns reports whether uri is a blob of the archive account this sweeper
// reads; the blob function processes other blobs from the body it gets.
func (s *Sweeper) Owns(uri string) bool {
	_, _, ok := s.opts.Blobs.Locate(uri)
	return ok
}

// Result is what a Register or Sweep did.
type Result struct {
	Blobs     int   // blobs whose new bytes were read
	Bytes     int64 // bytes evaluated (the cursors moved by that much)
	Busy      int   // cursors another instance held or claimed first
	Lost      int   // cursors another instance moved while this one read
	Gone      int   // blobs deleted since they were registered
	Rewritten int   // block blobs whose committed blocks were replaced
	Found     int   // blobs of listed containers given a cursor by this sweep
	Report    pipeline.Report
}

// Summary is one line for the invocation's log.
func (r Result) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "archive: %d blobs read, %d bytes, %d records", r.Blobs, r.Bytes, r.Report.Records)
	if len(r.Report.BySource) > 0 {
		b.WriteString(" (")
		for i, name := range slices.Sorted(maps.Keys(r.Report.BySource)) {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s=%d", name, r.Report.BySource[name])
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, ", %d unrecognised, %d malformed, %d alerts; %d busy, %d lost, %d gone, %d rewritten",
		r.Report.Unrecognised, r.Report.Malformed, r.Report.AlertCount, r.Busy, r.Lost, r.Gone, r.Rewritten)
	if r.Found > 0 {
		fmt.Fprintf(&b, ", %d found by listing", r.Found)
	}
	return b.String()
}

func (r *Result) add(rep pipeline.Report) {
	r.Report.Add(rep)
}

// Register records a blob (from its BlobCreated event) and evaluates what
// it holds beyond its cursor: everything, the first time.
func (s *Sweeper) Register(ctx context.Context, uri string) (Result, error) {
	var res Result
	container, name, ok := s.opts.Blobs.Locate(uri)
	if !ok {
		return res, fmt.Errorf("archive: %s is not a blob of the archive account %s", uri, s.opts.Blobs.base)
	}
	log := zerolog.Ctx(ctx)
	p, err := s.opts.Blobs.props(ctx, container, name)
	if errors.Is(err, errGone) {
		log.Warn().Str("blob", uri).Msg("archive blob gone before it was read")
		res.Gone++
		return res, nil
	}
	if err != nil {
		return res, err
	}
	hour, ok := HourOf(container, name)
	if !ok {
		hour = p.Created
		if hour.IsZero() {
			hour = s.opts.Now()
		}
		hour = hour.UTC().Truncate(time.Hour)
	}
	k := cursorKey(hour, uri)
	cur, found, err := getCursor(ctx, s.opts.Store, k)
	if err != nil {
		return res, err
	}
	if !found {
		fresh := Cursor{URI: uri, Container: container, Name: name, Hour: hour, Type: p.Type, Updated: s.opts.Now()}
		if _, err := writeCursor(ctx, s.opts.Store, fresh); err != nil {
			return res, err
		}
		// Inserted, or another instance inserted it first: read it back
		// for its ETag either way.
		if cur, found, err = getCursor(ctx, s.opts.Store, k); err != nil {
			return res, err
		}
		if !found {
			return res, fmt.Errorf("archive: cursor of %s vanished after it was written", uri)
		}
		log.Info().Str("blob", uri).Str("kind", string(KindOf(container))).Str("type", p.Type).Msg("archive blob registered")
	}
	err = s.advance(ctx, cur, p, &res)
	return res, err
}

// Sweep reads the new bytes of every blob still followed: those of the
// current hour and of the hours that ended less than Follow ago. Blobs of
// the List containers that have no cursor yet get one first.
func (s *Sweeper) Sweep(ctx context.Context) (Result, error) {
	var res Result
	var errs []error
	now := s.opts.Now().UTC()
	log := zerolog.Ctx(ctx)
	var hours []time.Time
	for h := now.Truncate(time.Hour); h.Add(time.Hour + s.opts.Follow).After(now); h = h.Add(-time.Hour) {
		hours = append(hours, h)
	}
	found, err := s.discover(ctx, hours)
	if err != nil {
		errs = append(errs, err)
	}
	for _, h := range hours {
		ents, err := s.opts.Store.List(ctx, CursorTable, state.TimeKey(h), "")
		if err != nil {
			return res, fmt.Errorf("archive: list cursors of %s: %w", state.TimeKey(h), err)
		}
		curs := make([]Cursor, 0, len(ents))
		known := make(map[string]bool, len(ents))
		for _, e := range ents {
			cur, err := cursorOf(e)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			known[cur.URI] = true
			curs = append(curs, cur)
		}
		for _, fresh := range found[h] {
			if known[fresh.URI] {
				continue
			}
			known[fresh.URI] = true
			if _, err := writeCursor(ctx, s.opts.Store, fresh); err != nil {
				errs = append(errs, err)
				continue
			}
			// Inserted, or another instance inserted it first.
			cur, ok, err := getCursor(ctx, s.opts.Store, fresh.Key())
			if err != nil || !ok {
				errs = append(errs, err)
				continue
			}
			res.Found++
			log.Info().Str("blob", cur.URI).Str("kind", string(KindOf(cur.Container))).Str("type", cur.Type).Msg("archive blob found by listing")
			curs = append(curs, cur)
		}
		for _, cur := range curs {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			p, err := s.opts.Blobs.props(ctx, cur.Container, cur.Name)
			if errors.Is(err, errGone) {
				log.Warn().Str("blob", cur.URI).Msg("archive blob gone; its cursor expires with its hour")
				res.Gone++
				continue
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if err := s.advance(ctx, cur, p, &res); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return res, errors.Join(errs...)
}

// discover lists the List containers for blobs of the given hours and
// returns them as fresh cursors by hour. A container that does not exist
// (no classic logging on the account: no $logs) holds nothing.
func (s *Sweeper) discover(ctx context.Context, hours []time.Time) (map[time.Time][]Cursor, error) {
	if len(s.opts.List) == 0 || len(hours) == 0 {
		return nil, nil
	}
	followed := make(map[time.Time]bool, len(hours))
	for _, h := range hours {
		followed[h] = true
	}
	out := map[time.Time][]Cursor{}
	var errs []error
	add := func(container string, items []listed) {
		for _, it := range items {
			hour, ok := HourOf(container, it.Name)
			if !ok {
				if it.Created.IsZero() {
					continue
				}
				hour = it.Created.UTC().Truncate(time.Hour)
			}
			if !followed[hour] {
				continue
			}
			if it.Type != "" && it.Type != TypeAppend && it.Type != TypeBlock {
				continue // page blobs are not logs
			}
			out[hour] = append(out[hour], Cursor{
				URI: s.opts.Blobs.URI(container, it.Name), Container: container, Name: it.Name,
				Hour: hour, Type: it.Type, Updated: s.opts.Now(),
			})
		}
	}
	for _, c := range s.opts.List {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		if KindOf(c) != KindStorageAnalytics {
			items, err := s.opts.Blobs.list(ctx, c, "")
			if err != nil && !errors.Is(err, errGone) {
				errs = append(errs, err)
			}
			add(c, items)
			continue
		}
		// <service>/YYYY/MM/DD/hh00/<counter>.log: one prefix per service
		// and followed hour, so the listing never walks the retention.
		services, err := s.opts.Blobs.prefixes(ctx, c)
		if err != nil {
			if !errors.Is(err, errGone) {
				errs = append(errs, err)
			}
			continue
		}
		for _, svc := range services {
			for _, h := range hours {
				items, err := s.opts.Blobs.list(ctx, c, svc+h.Format("2006/01/02/15")+"00/")
				if err != nil && !errors.Is(err, errGone) {
					errs = append(errs, err)
				}
				add(c, items)
			}
		}
	}
	return out, errors.Join(errs...)
}

// advance reads, evaluates and delivers the bytes of one blob beyond its
// cursor, one range at a time, moving the cursor after each.
func (s *Sweeper) advance(ctx context.Context, cur Cursor, p Props, res *Result) error {
	if p.Size == cur.Seen && p.ETag == cur.BlobETag {
		return nil // nothing new since the last read
	}
	log := zerolog.Ctx(ctx).With().Str("blob", cur.URI).Logger()
	now := s.opts.Now()
	if cur.Owner != "" && now.Before(cur.LeaseUntil) {
		res.Busy++ // another instance, or another invocation of this one
		return nil
	}
	if cur.Owner != "" {
		log.Warn().Str("owner", cur.Owner).Int64("offset", cur.Offset).
			Msg("taking over an archive cursor whose lease ended: its last range is read again")
	}
	// Claim: only the invocation whose ETag-checked write wins reads. The
	// owner names the instance and this claim, so two invocations of one
	// instance keep apart too.
	cur.Owner, cur.LeaseUntil = s.id+"."+rand.Text()[:8], now.Add(s.opts.Lease)
	cur, ok, err := s.rewrite(ctx, cur)
	if err != nil || !ok {
		if !ok && err == nil {
			res.Busy++
		}
		return err
	}
	if cur.Type == "" {
		cur.Type = p.Type
	}
	read := false
	maxRange := s.opts.MaxRange
	for {
		end, ifMatch := p.Size, ""
		var blocks []block
		if p.Type == TypeBlock {
			var etag string
			blocks, etag, err = s.opts.Blobs.blocks(ctx, cur.Container, cur.Name)
			if errors.Is(err, errGone) {
				res.Gone++
				return s.release(ctx, cur)
			}
			if err != nil {
				_ = s.release(ctx, cur)
				return err
			}
			if !prefixIntact(cur, blocks) {
				log.Warn().Int("blocks", cur.Blocks).Int64("offset", cur.Offset).
					Msg("archive block blob rewritten: reading it again from the start")
				res.Rewritten++
				cur = restart(cur)
			}
			end, ifMatch, p.ETag = 0, etag, etag
			for _, b := range blocks {
				end += b.Size
			}
		}
		if cur.Offset > end {
			log.Warn().Int64("offset", cur.Offset).Int64("size", end).Msg("archive blob shorter than its cursor: reading it again from the start")
			res.Rewritten++
			cur = restart(cur)
		}
		if cur.Offset == end {
			cur.Seen, cur.BlobETag = end, p.ETag
			break
		}
		start := cur.Offset
		count := min(end-start, maxRange)
		body, err := s.opts.Blobs.read(ctx, cur.Container, cur.Name, start, count, ifMatch)
		if errors.Is(err, errChanged) || errors.Is(err, errGone) {
			return s.release(ctx, cur) // committed again meanwhile: next time
		}
		if err != nil {
			_ = s.release(ctx, cur)
			return err
		}
		fr := newFrontier(body, cur.Framing, start == 0)
		rep, err := s.opts.Processor.Process(ctx, []pipeline.Input{{Origin: cur.URI, Body: fr, Writer: cur.URI, Seq: start}})
		body.Close()
		if err != nil {
			_ = s.release(ctx, cur)
			return fmt.Errorf("archive: evaluate %s bytes %d-%d: %w", cur.URI, start, start+count-1, err)
		}
		if s.opts.BeforeMove != nil {
			s.opts.BeforeMove(ctx, cur)
		}
		// Move to the end of the units evaluated; with a read error midway
		// that is still exact (units are released only once complete).
		res.add(rep)
		read = true
		cur.Offset = start + fr.Consumed()
		cur.Framing = fr.Framing()
		cur.Records += int64(rep.Records)
		cur.Updated = s.opts.Now()
		cur.Seen, cur.BlobETag = start+count, p.ETag
		if start+count < end {
			cur.BlobETag = "" // more to read: never "nothing new"
		}
		if blocks != nil {
			cur.Blocks, cur.BlockBytes, cur.LastBlock = blocksBefore(blocks, cur.Offset)
		}
		more := start+count < end && fr.err == nil
		if !more {
			cur.Owner, cur.LeaseUntil = "", time.Time{}
		}
		next, ok, werr := s.rewrite(ctx, cur)
		if werr != nil {
			return werr
		}
		if !ok {
			res.Lost++
			log.Warn().Int64("offset", cur.Offset).Msg("archive cursor moved by another instance while this one read: its lease had ended")
			return nil
		}
		res.Bytes += fr.Consumed()
		if fr.err != nil {
			return fmt.Errorf("archive: read %s from byte %d: %w", cur.URI, start+fr.Consumed(), fr.err)
		}
		if !more {
			res.Blobs++
			log.Debug().Int64("offset", next.Offset).Int64("records", next.Records).Msg("archive cursor moved")
			return nil
		}
		if fr.Consumed() == 0 {
			maxRange *= 2 // one unit longer than a range: read a longer one
		}
		cur = next
	}
	if read {
		res.Blobs++
	}
	cur.Owner, cur.LeaseUntil = "", time.Time{}
	cur.Updated = s.opts.Now()
	_, _, err = s.rewrite(ctx, cur)
	return err
}

// rewrite replaces the cursor (ETag-checked) and reads it back for its new
// ETag. ok is false when another writer changed it first, or took it.
func (s *Sweeper) rewrite(ctx context.Context, cur Cursor) (Cursor, bool, error) {
	ok, err := writeCursor(ctx, s.opts.Store, cur)
	if err != nil || !ok {
		return cur, false, err
	}
	next, found, err := getCursor(ctx, s.opts.Store, cur.Key())
	if err != nil {
		return cur, false, err
	}
	if !found || next.Owner != cur.Owner {
		return cur, false, nil
	}
	return next, true, nil
}

// release gives a claimed cursor back without moving it, so the next
// sweep or a retried invocation reads the range at once.
func (s *Sweeper) release(ctx context.Context, cur Cursor) error {
	cur.Owner, cur.LeaseUntil = "", time.Time{}
	_, err := writeCursor(ctx, s.opts.Store, cur)
	return err
}

// restart puts a cursor back at the start of its blob.
func restart(c Cursor) Cursor {
	c.Offset, c.Seen, c.BlobETag, c.Framing = 0, 0, "", FramingUnknown
	c.Blocks, c.BlockBytes, c.LastBlock = 0, 0, ""
	return c
}

// prefixIntact reports whether the committed blocks the cursor already
// read are still the first blocks of the list. Flow logs commit a new
// list that keeps them and adds blocks before the closing one.
func prefixIntact(c Cursor, blocks []block) bool {
	if c.Blocks == 0 {
		return true
	}
	if len(blocks) < c.Blocks {
		return false
	}
	var sum int64
	for _, b := range blocks[:c.Blocks] {
		sum += b.Size
	}
	return sum == c.BlockBytes && blocks[c.Blocks-1].Name == c.LastBlock
}

// blocksBefore counts the blocks that end at or before offset.
func blocksBefore(blocks []block, offset int64) (n int, size int64, last string) {
	for _, b := range blocks {
		if size+b.Size > offset {
			break
		}
		size += b.Size
		last = b.Name
		n++
	}
	return n, size, last
}
