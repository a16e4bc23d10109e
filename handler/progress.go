package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/azdetect/azdetect/internal/report"
)

// progress shows a long scan's advance on one rewritten stderr line: files
// done of total, bytes and records read, rate. It prints nothing unless
// enabled (stderr is a terminal, or --progress always), and at most every
// interval; Done clears the line so that the summary follows cleanly.
type progress struct {
	// mu: scan reads the next files (Reader) while it evaluates one.
	mu       sync.Mutex
	w        io.Writer
	enabled  bool
	files    int // total
	done     int // files finished
	bytes    int64
	records  int // in finished files
	start    time.Time
	last     time.Time
	interval time.Duration
	now      func() time.Time
	shown    bool
}

func newProgress(w io.Writer, enabled bool, files int) *progress {
	now := time.Now
	return &progress{w: w, enabled: enabled, files: files, start: now(), interval: 200 * time.Millisecond, now: now}
}

// Reader counts the bytes read from r.
func (p *progress) Reader(r io.Reader) io.Reader { return &countingReader{r: r, p: p} }

// FileDone counts one finished file and its records.
func (p *progress) FileDone(records int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	p.records += records
	p.show(false)
}

func (p *progress) show(force bool) {
	if !p.enabled {
		return
	}
	now := p.now()
	if !force && now.Sub(p.last) < p.interval {
		return
	}
	p.last = now
	rate := ""
	if secs := now.Sub(p.start).Seconds(); secs > 0 {
		rate = ", " + report.Bytes(int64(float64(p.bytes)/secs)) + "/s"
	}
	fmt.Fprintf(p.w, "\r\x1b[Kscanning: %d of %d file(s) done, %s read, %d record(s) in finished files%s", p.done, p.files, report.Bytes(p.bytes), p.records, rate)
	p.shown = true
}

// Done clears the progress line.
func (p *progress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
}

func (p *progress) clear() {
	if p.enabled && p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

type countingReader struct {
	r io.Reader
	p *progress
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.mu.Lock()
	c.p.bytes += int64(n)
	c.p.show(false)
	c.p.mu.Unlock()
	return n, err
}

// lineClearer clears the progress line before each write (a log line).
type lineClearer struct {
	w io.Writer
	p *progress
}

func (c *lineClearer) Write(b []byte) (int, error) {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	c.p.clear()
	c.p.shown = false
	return c.w.Write(b)
}
