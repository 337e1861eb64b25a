package profiler_test

import (
	"context"
	"fmt"
	"io"

	"github.com/vpmu/vpmu/profiler"
)

// sliceStream replays a fixed list of events, the way a test or a
// recorded log would.
type sliceStream []profiler.Event

func (s *sliceStream) Next(ctx context.Context) (profiler.Event, error) {
	if len(*s) == 0 {
		return nil, io.EOF
	}
	ev := (*s)[0]
	*s = (*s)[1:]
	return ev, nil
}

// Feeding a Builder from a stream of records, as a perf_event reader or
// the vpmu hypervisor would produce them.
func ExampleRecord() {
	b, err := profiler.NewBuilder(profiler.Options{
		Event:     "cycles",
		Period:    100000,
		Processes: profiler.NewProcesses(false),
	})
	if err != nil {
		panic(err)
	}
	app := profiler.Mapping{Start: 0x400000, Limit: 0x401000, File: "[app]"}
	events := sliceStream{
		&profiler.CommEvent{PID: 7, TID: 7, Comm: "app", Exec: true},
		&profiler.MmapEvent{PID: 7, TID: 7, Mapping: app},
		&profiler.Sample{IP: 0x400010, Stack: []uint64{0x400105}, PID: 7, TID: 7, CPU: 1, VCPU: -1},
		&profiler.Sample{IP: 0x400010, Stack: []uint64{0x400105}, PID: 7, TID: 7, CPU: 1, VCPU: -1},
		&profiler.Sample{IP: 0x400200, PID: 7, TID: 7, CPU: 0, VCPU: -1, Period: 50000},
		&profiler.LostEvent{Count: 1},
	}
	stats, err := profiler.Record(context.Background(), &events, b, profiler.RecordOptions{})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%d samples, %d lost\n", stats.Samples, stats.Lost)

	p, err := b.Profile()
	if err != nil {
		panic(err)
	}
	for _, s := range p.Sample {
		var stack []string
		for _, l := range s.Location {
			if len(l.Line) > 0 {
				stack = append(stack, l.Line[0].Function.Name)
			} else {
				stack = append(stack, fmt.Sprintf("%s+%#x", l.Mapping.File, l.Address-l.Mapping.Start))
			}
		}
		fmt.Println(s.Value, stack, s.Label["comm"], s.NumLabel["cpu"])
	}
	// Output:
	// 3 samples, 1 lost
	// [2 200000] [[app]+0x10 [app]+0x104] [app] [1]
	// [1 50000] [[app]+0x200] [app] [0]
	// [1 100000] [[lost samples]] [] []
}
