package exporters_test

import (
	"os"
	"syscall"
	"time"

	"github.com/vpmu/vpmu/exporters"
	"github.com/vpmu/vpmu/pmu"
)

func exampleReport() *exporters.Report {
	taskClock := pmu.Event{Name: "task-clock", Kind: pmu.KindSoftware, Type: 1, Config: 1}
	faults := pmu.Event{Name: "page-faults", Kind: pmu.KindSoftware, Type: 1, Config: 2}
	cycles := pmu.Event{Name: "cycles", Kind: pmu.KindHardware}
	const tc = 4 * time.Millisecond
	return &exporters.Report{
		Target: exporters.Target{Command: []string{"make", "-j2"}},
		Rows: []exporters.Row{
			{Value: pmu.Value{Event: taskClock, Raw: uint64(tc), Enabled: tc, Running: tc}},
			{Value: pmu.Value{Event: faults, Raw: 1200, Enabled: tc, Running: tc}},
			{Value: pmu.Value{Event: cycles}, Err: &pmu.NotSupportedError{Event: "cycles", Reason: pmu.ReasonNoHardwarePMU}},
		},
		Elapsed: 8 * time.Millisecond,
		Usage:   &exporters.Usage{User: 3 * time.Millisecond, Sys: time.Millisecond},
		Exit:    &exporters.ExitStatus{Signal: syscall.SIGINT},
	}
}

func ExampleReport_WriteTable() {
	exampleReport().WriteTable(os.Stdout)
	// Output:
	// Performance counter stats for 'make -j2':
	//
	//               4.00 msec task-clock  #    0.500 CPUs utilized
	//              1,200      page-faults #  300.000 K/sec
	//    <not supported>      cycles
	//
	//  Not supported (cycles):
	//    no hardware PMU: this machine is a VM without a virtual PMU
	//
	//        0.008000000 seconds time elapsed
	//
	//        0.003000000 seconds user
	//        0.001000000 seconds sys
}

func ExampleReport_WriteCSV() {
	exampleReport().WriteCSV(os.Stdout, ",")
	// Output:
	// 4.00,msec,task-clock,4000000,100.00,0.500,CPUs utilized
	// 1200,,page-faults,4000000,100.00,300.000,K/sec
	// <not supported>,,cycles,0,100.00,,
}

func ExampleReport_WriteJSON() {
	exampleReport().WriteJSON(os.Stdout)
	// Output:
	// {"counter-value":"4.000000","unit":"msec","event":"task-clock","event-runtime":4000000,"pcnt-running":100.00,"metric-value":0.500000,"metric-unit":"CPUs utilized","counter-raw":4000000,"event-enabled":4000000}
	// {"counter-value":"1200.000000","unit":"","event":"page-faults","event-runtime":4000000,"pcnt-running":100.00,"metric-value":300.000000,"metric-unit":"K/sec","counter-raw":1200,"event-enabled":4000000}
	// {"counter-value":"<not supported>","unit":"","event":"cycles","event-runtime":0,"pcnt-running":100.00,"metric-value":0.000000,"metric-unit":"","event-enabled":0,"not-supported-reason":"no hardware PMU: this machine is a VM without a virtual PMU"}
	// {"command":["make","-j2"],"target":"'make -j2'","elapsed-seconds":0.008000000,"user-seconds":0.003000000,"sys-seconds":0.001000000,"exit-status":130,"exit-signal":"interrupt"}
}
