package source

import (
	"bytes"
	"compress/gzip"
	"errors"
	"strings"
	"testing"
)

// TestInflateLimitRatio: a gzip body that inflates far past MaxInflateRatio
// is read only up to the ratio check, with the records before it yielded
// and an ErrInflateLimit error naming why.
func TestInflateLimitRatio(t *testing.T) {
	var zbuf bytes.Buffer
	zw := gzip.NewWriter(&zbuf)
	_, _ = zw.Write([]byte(`{"a":1}` + "\n"))
	_, _ = zw.Write(make([]byte, 4<<20)) // 4 MiB of zeros: hundreds of times smaller compressed
	_ = zw.Close()
	in := &countingReader{r: bytes.NewReader(zbuf.Bytes())}
	zr, err := gzip.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	l := &inflateLimit{r: zr, in: in, max: MaxInflatedBytes, ratio: MaxInflateRatio, after: 1 << 20}
	var got []Record
	var inflated int64
	err = Records(l, func(rec Record) error {
		got = append(got, Record{Index: rec.Index, Offset: rec.Offset, Length: rec.Length, Err: rec.Err})
		inflated = rec.Offset + rec.Length
		return nil
	})
	if !errors.Is(err, ErrInflateLimit) || !strings.Contains(err.Error(), "decompression bomb") {
		t.Fatalf("err = %v, want ErrInflateLimit", err)
	}
	if len(got) == 0 || got[0].Err != nil {
		t.Fatalf("records %+v: want the first record parsed", got)
	}
	if inflated > 2<<20 {
		t.Errorf("read %d inflated bytes, want about %d", inflated, 1<<20)
	}
}

// TestInflateLimitTotal: the total cap stops a stream that stays under the
// ratio.
func TestInflateLimitTotal(t *testing.T) {
	in := &countingReader{r: strings.NewReader(strings.Repeat("x", 1000))}
	l := &inflateLimit{r: in, in: in, max: 300, ratio: MaxInflateRatio, after: 1 << 20}
	var out bytes.Buffer
	_, err := out.ReadFrom(l)
	if !errors.Is(err, ErrInflateLimit) || out.Len() != 300 {
		t.Fatalf("read %d bytes, err %v; want 300 and ErrInflateLimit", out.Len(), err)
	}
}

// TestRecordLengthOfAnOverlongLine: a line longer than MaxRecordBytes comes
// out cut, with the length it had in the body.
func TestRecordLengthOfAnOverlongLine(t *testing.T) {
	long := MaxRecordBytes + 12345
	body := "1.0;" + strings.Repeat("y", long-4) + "\n" + `{"b":2}` + "\n"
	var recs []Record
	err := Records(strings.NewReader(body), func(rec Record) error {
		recs = append(recs, Record{Offset: rec.Offset, Length: rec.Length, Err: rec.Err, Bytes: bytes.Clone(rec.Bytes[:min(len(rec.Bytes), 8)])})
		return nil
	})
	if err != nil || len(recs) != 2 {
		t.Fatalf("%d records, err %v", len(recs), err)
	}
	if !errors.Is(recs[0].Err, ErrTooLarge) || recs[0].Length != int64(long+1) {
		t.Errorf("first record: length %d, err %v; want %d and ErrTooLarge", recs[0].Length, recs[0].Err, long+1)
	}
	if recs[1].Err != nil || recs[1].Offset != int64(long+1) || recs[1].Length != 7 {
		t.Errorf("second record %+v", recs[1])
	}
}
