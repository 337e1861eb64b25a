package pmu

import (
	"math"
	"testing"
	"time"
)

func TestValueScaling(t *testing.T) {
	for _, tc := range []struct {
		name  string
		v     Value
		want  float64
		ok    bool
		ratio float64
	}{
		{"never ran", Value{Raw: 0, Enabled: time.Second}, 0, false, 0},
		{"never enabled", Value{Raw: 5}, 0, false, 0},
		{"ran all the time", Value{Raw: 1000, Enabled: time.Second, Running: time.Second}, 1000, true, 1},
		{"ran half the time", Value{Raw: 1000, Enabled: 2 * time.Second, Running: time.Second}, 2000, true, 0.5},
		{"ran a third", Value{Raw: 10, Enabled: 3 * time.Millisecond, Running: time.Millisecond}, 30, true, 1.0 / 3},
		// Raw*Enabled overflows 64 bits; the 128-bit path keeps it exact.
		{"large", Value{Raw: 1 << 62, Enabled: 4 * time.Second, Running: 2 * time.Second}, 1 << 63, true, 0.5},
		{"sysfs scale", Value{Raw: 1000, Enabled: time.Second, Running: time.Second, Event: Event{Scale: 6.103515625e-5}}, 0.06103515625, true, 1},
		{"running > enabled (clock skew)", Value{Raw: 7, Enabled: time.Second, Running: 2 * time.Second}, 7, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.v.Scaled()
			if ok != tc.ok || math.Abs(got-tc.want) > 1e-9*math.Max(1, tc.want) {
				t.Errorf("Scaled() = %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
			}
			if r := tc.v.Ratio(); math.Abs(r-tc.ratio) > 1e-12 {
				t.Errorf("Ratio() = %v, want %v", r, tc.ratio)
			}
			if tc.v.Counted() != tc.ok {
				t.Errorf("Counted() = %v, want %v", tc.v.Counted(), tc.ok)
			}
		})
	}
}
