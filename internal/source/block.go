package source

import (
	"bufio"
	"bytes"
	"errors"
	"io"

	"github.com/azdetect/azdetect/internal/event"
)

// Framing a body in blocks, on several goroutines at once. A body is cut
// into blocks after line ends (Body.Next) and each block framed and parsed
// on its own (Registry.FrameBlock), as if the body began where the block
// does. That is what framing the whole body yields as long as no value
// runs over a block's end: JSON Lines and text lines, the shape of
// exported logs. A block whose end cut a value short says where (the cut
// offset): from there on, the caller frames the rest of the body in one
// piece (Registry.FrameFrom), as Records would have. A body that is not
// lines (an envelope of many records) is framed in one piece without
// parsing (Body.FrameRecords), and its records parsed at once
// (Registry.ParseRecord).

// Block is a run of whole lines of a body (the last block of a body, or a
// block cut at the size limit, may end inside a line).
type Block struct {
	Bytes  []byte
	Offset int64 // offset of Bytes[0] in the decompressed body
	Last   bool  // the body ends after this block
	Err    error // the read error the body ended with (Last), nil at its end
}

// LineShaped reports whether the body's first line looks like one record
// of JSON Lines or a text line: framing it in blocks is then likely to
// hold. Envelopes, arrays and pretty-printed objects are better framed in
// one piece (nothing is wrong either way: only slower).
func (b *Body) LineShaped() bool {
	p, _ := b.br.Peek(b.br.Size())
	p = bytes.TrimLeft(p, " \t\r\n")
	if len(p) == 0 {
		return true
	}
	switch p[0] {
	case '[':
		return false
	case '{':
	default:
		return true // text lines ($logs)
	}
	j := bytes.IndexByte(p, '\n')
	if j < 0 {
		return false // one long line: an envelope, most likely
	}
	line := bytes.TrimRight(p[:j], " \t\r")
	return len(line) > 0 && line[len(line)-1] == '}' && !containsRecordsName(line)
}

// Next reads the next block: at least size bytes (unless the body ends)
// up to the line end after them; a line that takes it past limit is cut
// soon after (one read buffer at most). buf is reused for the block's
// bytes when it has room.
func (b *Body) Next(buf []byte, size, limit int) Block {
	blk := Block{Offset: b.off}
	buf = buf[:0]
	if cap(buf) < size {
		buf = make([]byte, 0, size+size/4)
	}
	var err error
	for len(buf) < size && err == nil {
		var n int
		n, err = b.br.Read(buf[len(buf):size])
		buf = buf[:len(buf)+n]
	}
	for err == nil && len(buf) < limit {
		var line []byte
		line, err = b.br.ReadSlice('\n')
		buf = append(buf, line...)
		if err == nil {
			break // a line end
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			err = nil
		}
	}
	b.off += int64(len(buf))
	blk.Bytes = buf
	if err != nil {
		blk.Last = true
		if !errors.Is(err, io.EOF) {
			blk.Err = err
		}
	}
	return blk
}

// FrameBlock frames and parses a block as Records does a body, as if the
// body began at the block, calling fn for each record; records are
// numbered from 0 within the block and their offsets are the body's.
// When the block's end cut a value short (and more of the body follows),
// cut is the offset where that value starts: the records yielded from
// there on are not those of the whole body, which must be framed again
// from cut on. Otherwise cut is -1. The events are made from slab (nil:
// a fresh one): one goroutine's, kept from block to block, leaves no
// partly used run per block (a slab per block was a part of the fifth
// more that two cores allocated than one, framing the body whole).
func (r *Registry) FrameBlock(blk Block, slab *event.Slab, fn func(rec Record, ev *event.Event, status Status, err error) error) (cut int64, err error) {
	var rd io.Reader = bytes.NewReader(blk.Bytes)
	if blk.Err != nil {
		rd = io.MultiReader(rd, errReader{blk.Err})
	}
	cut, err = r.frameFrom(rd, blk.Offset, slab, fn)
	if blk.Last {
		cut = -1
	}
	return cut, err
}

// FrameFrom frames and parses the rest of a body, read from rd, which
// starts at offset off of the body at the top level (between records), as
// Records does; records are numbered from 0.
func (r *Registry) FrameFrom(rd io.Reader, off int64, fn func(rec Record, ev *event.Event, status Status, err error) error) error {
	_, err := r.frameFrom(rd, off, nil, fn)
	return err
}

// FrameRecords frames what is left of b as Records does, without parsing
// the records: fn gets each one as framed (Bytes valid until it returns),
// and ParseRecord gives for it what Records would have passed on. An
// error from fn stops the framing and is returned as is.
func (b *Body) FrameRecords(fn func(rec Record) error) error {
	f := &framer{br: b.br, off: b.off, fn: fn, cut: -1}
	err := f.run()
	b.off = f.off
	return err
}

// ParseRecord parses a record FrameRecords framed, as Records does,
// making its event from slab (nil: an allocation of its own).
func (r *Registry) ParseRecord(rec Record, slab *event.Slab) (*event.Event, Status, error) {
	if rec.Err != nil {
		return nil, Malformed, rec.Err
	}
	return r.parseSafe(rec.Bytes, slab)
}

func (r *Registry) frameFrom(rd io.Reader, off int64, slab *event.Slab, fn func(rec Record, ev *event.Event, status Status, err error) error) (int64, error) {
	br := getReader(rd)
	defer putReader(br)
	if slab == nil {
		slab = new(event.Slab)
	}
	f := &framer{br: br, off: off, fn: r.parsing(slab, fn), lines: true, cut: -1}
	err := f.run()
	return f.cut, err
}

// errReader is a reader that fails with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
