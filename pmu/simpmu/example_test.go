package simpmu_test

import (
	"fmt"
	"time"

	"github.com/vpmu/vpmu/pmu"
	"github.com/vpmu/vpmu/pmu/simpmu"
)

// Example runs three events on a task of a machine with two counters: the
// simulator multiplexes them, and scaling by enabled/running time recovers
// the true counts exactly because the rates are constant.
func Example() {
	sim, err := simpmu.New(simpmu.Config{CPUs: 1, Counters: 2, Width: 48})
	if err != nil {
		panic(err)
	}
	task := sim.NewTask()
	if err := sim.Schedule(0, task); err != nil {
		panic(err)
	}
	var counters []pmu.Counter
	for _, g := range pmu.MustParseSpec("cycles,instructions,branches").Groups {
		c, err := sim.Open(g, pmu.Target{PID: task, CPU: -1})
		if err != nil {
			panic(err)
		}
		defer c.Close()
		counters = append(counters, c)
	}
	sim.SetRate(0, simpmu.MustKey("cycles"), 3_000_000_000)       // 3 GHz
	sim.SetRate(0, simpmu.MustKey("instructions"), 6_000_000_000) // IPC 2
	sim.SetRate(0, simpmu.MustKey("branches"), 1_000_000_000)
	for range 6 {
		sim.Tick() // 4ms, then rotate
	}
	for _, c := range counters {
		v, err := c.Read()
		if err != nil {
			panic(err)
		}
		scaled, _ := v[0].Scaled()
		fmt.Printf("%-12s raw=%-9d running=%v/%v scaled=%.0f\n", v[0].Event, v[0].Raw, v[0].Running, v[0].Enabled, scaled)
	}
	fmt.Println("true instructions:", sim.TaskTruth(task, simpmu.MustKey("instructions"), 0))
	fmt.Println("simulated time:", sim.Now() == 24*time.Millisecond)
	// Output:
	// cycles       raw=48000000  running=16ms/24ms scaled=72000000
	// instructions raw=96000000  running=16ms/24ms scaled=144000000
	// branches     raw=16000000  running=16ms/24ms scaled=24000000
	// true instructions: 144000000
	// simulated time: true
}
