package invoke

import "time"

// TimerInfo is the timer trigger's value (reference/functions-contract.md
// §2.3). ScheduleStatus is nil when the function sets "useMonitor": false.
type TimerInfo struct {
	IsPastDue      bool
	AdjustForDST   bool
	ScheduleStatus *ScheduleStatus
}

// ScheduleStatus is the timer's last and next occurrence, in host time.
type ScheduleStatus struct {
	Last        time.Time
	Next        time.Time
	LastUpdated time.Time
}

type timerWire struct {
	Schedule *struct {
		AdjustForDST bool `json:"AdjustForDST"`
	} `json:"Schedule"`
	ScheduleStatus *struct {
		Last        string `json:"Last"`
		Next        string `json:"Next"`
		LastUpdated string `json:"LastUpdated"`
	} `json:"ScheduleStatus"`
	IsPastDue bool `json:"IsPastDue"`
}

// DecodeTimer reads the TimerInfo of binding from a timer trigger request.
func DecodeTimer(req Request, binding string) (TimerInfo, error) {
	raw, ok := req.Binding(binding)
	if !ok {
		return TimerInfo{}, badRequest(nil, "request has no Data.%s: the timer binding of this function", binding)
	}
	var w timerWire
	if err := DecodeValue(raw, &w); err != nil {
		return TimerInfo{}, badRequest(err, "Data.%s is not a TimerInfo object", binding)
	}
	ti := TimerInfo{IsPastDue: w.IsPastDue}
	if w.Schedule != nil {
		ti.AdjustForDST = w.Schedule.AdjustForDST
	}
	if st := w.ScheduleStatus; st != nil {
		ti.ScheduleStatus = &ScheduleStatus{}
		for _, f := range []struct {
			name string
			in   string
			out  *time.Time
		}{
			{"Last", st.Last, &ti.ScheduleStatus.Last},
			{"Next", st.Next, &ti.ScheduleStatus.Next},
			{"LastUpdated", st.LastUpdated, &ti.ScheduleStatus.LastUpdated},
		} {
			if f.in == "" {
				continue
			}
			t, err := ParseHostTime(f.in)
			if err != nil {
				return TimerInfo{}, badRequest(err, "Data.%s.ScheduleStatus.%s", binding, f.name)
			}
			*f.out = t
		}
	}
	return ti, nil
}
