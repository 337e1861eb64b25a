package hypervisor

import (
	"testing"
)

func TestPthreads(t *testing.T) {
	prog := buildC(t, "threads", "-pthread")
	nout, _, ncode := runNative(t, nil, prog)
	for _, cfg := range []Config{
		{VCPUs: 1},
		{VCPUs: 2, PCPUs: 2},
		{VCPUs: 3, PCPUs: 1},
		{VCPUs: 4, PCPUs: 2, TimeSlice: 2e6},
		{VCPUs: 2, PCPUs: 2, PinPCPUs: true},
	} {
		r := runGuest(t, cfg, prog)
		if r.err != nil {
			t.Fatalf("%d VCPUs on %d PCPUs: %v\nstderr: %s", cfg.VCPUs, cfg.PCPUs, r.err, r.stderr)
		}
		if r.stdout != nout || r.status.Int() != ncode {
			t.Errorf("%d VCPUs on %d PCPUs: stdout %q status %v; native %q %d", cfg.VCPUs, cfg.PCPUs, r.stdout, r.status, nout, ncode)
		}
		if len(r.stats.Unimplemented) != 0 {
			t.Errorf("unimplemented system calls: %v", r.stats.Unimplemented)
		}
		t.Logf("%d VCPUs on %d PCPUs: %+v", cfg.VCPUs, cfg.PCPUs, r.stats)
	}
}
