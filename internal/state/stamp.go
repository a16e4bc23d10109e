package state

import (
	"math"
	"time"
)

// Stamp is a time in 8 bytes: 100 ns ticks since 0001-01-01 UTC (the zero
// time is 0), the resolution both stores keep. It keeps Entity.Expires
// compact (an Entity of 128 bytes or less is held in a map's slots rather
// than allocated apart). Times outside about ±29,000 years of year 1 are
// held as the nearest representable tick (never valid Edm.DateTime
// anyway); the location is not kept (Time gives UTC).
type Stamp int64

const (
	ticksPerSecond = int64(time.Second / 100)
	maxStampSecond = math.MaxInt64/ticksPerSecond - 1
	minStampSecond = math.MinInt64/ticksPerSecond + 1
)

// zeroUnix is time.Time{}.Unix(): year 1, a Stamp's zero.
var zeroUnix = time.Time{}.Unix()

// StampOf returns t as a Stamp, truncated to 100 ns (towards the past).
func StampOf(t time.Time) Stamp {
	if t.IsZero() {
		return 0
	}
	sec := t.Unix() - zeroUnix // seconds since year 1; floor for earlier times
	switch {
	case sec > maxStampSecond:
		return math.MaxInt64
	case sec < minStampSecond:
		return math.MinInt64
	}
	return Stamp(sec*ticksPerSecond + int64(t.Nanosecond()/100))
}

// StampAfter returns StampOf(t.Add(d)) without making the time: a time of
// the monotonic clock (the wall clock's now) takes Add's slow path, and
// the stateful kinds stamp every row they write so.
func StampAfter(t time.Time, d time.Duration) Stamp {
	sec := t.Unix() - zeroUnix
	if d < 0 || sec < minStampSecond || sec > maxStampSecond || t.IsZero() {
		return StampOf(t.Add(d))
	}
	// d is below 1<<63 ns, 9.3e9 seconds: sec stays far from overflow.
	sec += int64(d / time.Second)
	ns := int64(t.Nanosecond()) + int64(d%time.Second)
	if ns >= int64(time.Second) {
		sec++
		ns -= int64(time.Second)
	}
	if sec > maxStampSecond {
		return math.MaxInt64
	}
	return Stamp(sec*ticksPerSecond + ns/100)
}

// Time returns s as a UTC time (the zero Stamp as the zero time).
func (s Stamp) Time() time.Time {
	if s == 0 {
		return time.Time{}
	}
	sec, n7 := s.unix()
	return time.Unix(sec, int64(n7)*100).UTC()
}

// unix is s as Time's Unix seconds and hundreds of nanoseconds past them,
// without making the time (the zero Stamp: the zero time's).
func (s Stamp) unix() (sec int64, n7 int32) {
	sec, rem := int64(s)/ticksPerSecond, int64(s)%ticksPerSecond
	if rem < 0 {
		sec, rem = sec-1, rem+ticksPerSecond
	}
	return sec + zeroUnix, int32(rem)
}

// edmOK is edmTimeOK(s.Time()), without making the time: the bounds are
// whole seconds, exact as Stamps, and Stamps order as their times.
func (s Stamp) edmOK() bool {
	return s == 0 || minEdmStamp <= s && s < maxEdmStamp
}

var minEdmStamp, maxEdmStamp = StampOf(minEdmTime), StampOf(maxEdmTime)

// IsZero reports whether s is the zero time.
func (s Stamp) IsZero() bool { return s == 0 }
